"""Black-box checks of hostile and broken input, through the surfaces a user touches (``core.vsinr.*``,
the ``vsinr`` command, the committed corpus ``tests/data/hostile``), runnable against any checkout:

    python scripts/check_hostile.py [--checkout PATH] [--markdown out.md]

Each check runs in its own process with ``PYTHONPATH`` set to the checkout (its ``vsinr`` and
``plugins``), so an older commit can be measured with this script and this corpus. Prints one line
per case of the hostile-input issue: pass or fail, and what was seen.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "hostile"
BIN = Path(sys.executable).parent

PEAK = """
import resource, sys
def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""


class Checker:
    def __init__(self, checkout: Path, folder: Path):
        self.env = dict(os.environ, PYTHONPATH=f"{checkout}:{checkout / 'plugins'}", VSINR_CACHE=str(folder / "cache"))
        self.folder = folder

    def python(self, code: str, limit_gb: float = 0, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``code`` in a fresh interpreter (under an address-space limit when ``limit_gb``)."""
        prefix = ""
        if limit_gb:  # counted beyond the loaded process: torch alone maps gigabytes of address space
            prefix = ("import resource, torch, vapoursynth\nvapoursynth.core.vsinr\n"
                      "size = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
                      f"resource.setrlimit(resource.RLIMIT_AS, (size + {int(limit_gb * 2**30)}, "
                      f"size + {int(limit_gb * 2**30)}))\n")
        return subprocess.run([sys.executable, "-c", prefix + code], capture_output=True, text=True, env=self.env,
                              timeout=timeout)

    def vsinr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "vsinr"), *args], capture_output=True, text=True, env=self.env, timeout=300)


def _clip_code(extra: str, width: int = 64, height: int = 48, length: int = 6) -> str:
    return ("import vapoursynth as vs\nfrom vapoursynth import core\n"
            f"clip = core.std.BlankClip(format=vs.RGBS, width={width}, height={height}, length={length}, fpsnum=24, "
            "color=[0.2, 0.5, 0.7])\n" + extra)


def _creation(check: Checker, call: str, expected: str) -> tuple[bool, str]:
    """Whether ``call`` (on ``clip``) is refused when the filter is created, with ``expected`` in the message."""
    code = _clip_code("try:\n"
                      f"    out = {call}\n"
                      "    print('CREATED')\n"
                      "except vs.Error as exc:\n"
                      "    print('REFUSED', exc)\n")
    done = check.python(code)
    text = (done.stdout + done.stderr).strip().splitlines()
    seen = next((line for line in text if line.startswith(("REFUSED", "CREATED"))), f"exit {done.returncode}")
    return seen.startswith("REFUSED") and expected in seen, seen[:160]


def case_forged_header(check: Checker) -> tuple[bool, str]:
    """1: a forged size or rate with a valid checksum: an error, not an abort of the host or a wrong file."""
    results = []
    for name in ("size-0x0.vsnerv", "size-100000.vsnerv", "fps-1e30.vsnerv"):
        done = check.python("import vapoursynth as vs\ntry:\n"
                            f"    vs.core.vsinr.Decode({str(CORPUS / name)!r}).get_frame(0)\n"
                            "    print('DECODED')\nexcept vs.Error as exc:\n    print('REFUSED')\n")
        out = check.folder / "forged.mkv"
        cli = check.vsinr("decode", str(CORPUS / name), "-o", str(out))
        ok = "REFUSED" in done.stdout and done.returncode == 0 and cli.returncode == 1 and not out.exists()
        results.append((ok, f"{name}: Decode exit {done.returncode} {done.stdout.strip()[:20]}, vsinr decode exit "
                            f"{cli.returncode}{' wrote a file' if out.exists() else ''}"))
        out.unlink(missing_ok=True)
    return all(ok for ok, _ in results), "; ".join(text for _, text in results)


def case_declared_allocation(check: Checker) -> tuple[bool, str]:
    """2: declared configurations refused before allocation, under a 2 GB address-space limit."""
    done = check.python(PEAK + "import vapoursynth as vs\ntry:\n"
                        f"    vs.core.vsinr.Decode({str(CORPUS / 'fc-dim-4000.vsnerv')!r}).get_frame(0)\n"
                        "    print('DECODED')\nexcept vs.Error as exc:\n    print('REFUSED', exc)\n"
                        "print('PEAK', peak_mib())\n", limit_gb=2)
    codec = "REFUSED" in done.stdout and "does not fit this model" in done.stdout
    weights, seen = _creation(check, f"core.vsinr.STVSR(clip, 2, 2, method='videoinr', "
                              f"weights={str(CORPUS / 'config-nf-4096.safetensors')!r})", "does not fit")
    return codec and weights, f"fc_dim 4000: {done.stdout.strip()[:120]!r}; nf=4096 weights: {seen}"


def case_amplification(check: Checker) -> tuple[bool, str]:
    """3: a small file that decodes to far more than an encoder writes is refused, in little memory."""
    done = check.python(PEAK + "import vapoursynth as vs\nbase = peak_mib()\ntry:\n"
                        f"    vs.core.vsinr.Decode({str(CORPUS / 'amplification.vsnerv')!r}).get_frame(0)\n"
                        "    print('DECODED')\nexcept vs.Error as exc:\n    print('REFUSED', exc)\n"
                        "print('GROWTH', peak_mib() - base)\n")
    ok = "REFUSED" in done.stdout and "more than any encoder writes" in done.stdout
    return ok, done.stdout.strip().replace("\n", " ")[:200] or done.stderr[-160:]


def case_rate_memory(check: Checker) -> tuple[bool, str]:
    """4: the peak memory of one Interpolate frame at 720p is within 2x of factor 2's at factor 128
    (the process's peak; what one frame adds is shown too)."""
    peaks: dict[int, tuple[float, float]] = {}
    for factor in (2, 128):
        done = check.python(PEAK + _clip_code(
            f"out = core.vsinr.Interpolate(clip, {factor}, method='classic')\n"
            "base = peak_mib()\nout.get_frame(1)\nprint('PEAK', peak_mib(), peak_mib() - base)\n",
            1280, 720, 4), timeout=300)
        line = next((x for x in done.stdout.splitlines() if x.startswith("PEAK")), None)
        if line is None:
            return False, f"factor {factor}: exit {done.returncode} {done.stderr.strip()[-160:]}"
        peaks[factor] = (float(line.split()[1]), float(line.split()[2]))
    ok = peaks[128][0] <= 2 * peaks[2][0]
    return ok, (f"peak {peaks[2][0]:.0f} MiB at factor 2, {peaks[128][0]:.0f} MiB at 128 "
                f"(the frame adds {peaks[2][1]:.0f} and {peaks[128][1]:.0f} MiB)")


def case_nan_pixel(check: Checker) -> tuple[bool, str]:
    """5: one NaN pixel does not turn a network's output frames to NaN."""
    done = check.python(_clip_code(
        "import numpy as np\n"
        "def poison(n, f):\n    out = f.copy()\n    np.asarray(out[0])[3, 3] = float('nan')\n    return out\n"
        "bad = core.std.ModifyFrame(clip, clip, poison)\n"
        "out = core.vsinr.Interpolate(bad, 2, method='videoinr')\n"
        "try:\n    f = out.get_frame(1)\n"
        "    print('NAN', int(np.isnan(np.asarray(f[0])).sum()), 'of', f.width * f.height)\n"
        "except vs.Error as exc:\n    print('REFUSED', exc)\n"))
    line = (done.stdout.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    ok = line.startswith("REFUSED") or line.startswith("NAN 0 ")
    return ok, line[:160]


def case_inconsistent_fields(check: Checker) -> tuple[bool, str]:
    """6: embeddings or norms of the wrong shape are refused when the file is opened, not at frame time."""
    seen = []
    for name in ("embeddings-rank.vsnerv", "norms-shape.vsnerv"):
        done = check.python("import vapoursynth as vs\ntry:\n"
                            f"    out = vs.core.vsinr.Decode({str(CORPUS / name)!r})\n    print('CREATED')\n"
                            "except vs.Error as exc:\n    print('REFUSED', exc)\n")
        seen.append((done.stdout.strip() or done.stderr.strip()[-100:])[:90])
    return all(s.startswith("REFUSED") and "does not fit" in s for s in seen), "; ".join(seen)


def case_interrupt_in_creation(check: Checker) -> tuple[bool, str]:
    """7: Ctrl-C at a random moment of a script that creates filters in a loop (30 times): it ends
    as a KeyboardInterrupt or as the call's error "interrupted"; never a crash, a half-imported torch
    or a swallowed interrupt turned into another error. (An interrupt that VapourSynth's own Cython
    code swallows while it converts arguments is counted as lost.)"""
    code = _clip_code(
        "import os, random, signal, time\n"
        "random.seed(1)\nseen = {}\n"
        "signal.signal(signal.SIGALRM, lambda s, f: os.kill(os.getpid(), signal.SIGINT))\n"
        "for trial in range(30):\n"
        "    signal.setitimer(signal.ITIMER_REAL, random.uniform(0.0005, 0.02))\n"
        "    end, what = time.monotonic() + 2, 'lost'\n"
        "    try:\n"
        "        while time.monotonic() < end:\n"
        "            core.vsinr.STVSR(clip, 2, 2, method='classic')\n"
        "    except KeyboardInterrupt:\n"
        "        what = 'KeyboardInterrupt'\n"
        "    except vs.Error as exc:\n"
        "        what = 'interrupted' if str(exc).endswith(': interrupted') else 'vs.Error: ' + str(exc)[:50]\n"
        "    except Exception as exc:\n"
        "        what = type(exc).__name__\n"
        "    seen[what] = seen.get(what, 0) + 1\n"
        "print('SEEN', seen)\n")
    done = check.python(code, timeout=300)
    line = next((x for x in done.stdout.splitlines() if x.startswith("SEEN")), "")
    seen = eval(line[5:]) if line else {}  # a dict literal printed by the child
    other = {k: v for k, v in seen.items() if k not in ("KeyboardInterrupt", "interrupted", "lost")}
    ok = done.returncode == 0 and not other and seen.get("lost", 0) <= 3
    return ok, f"exit {done.returncode}: {seen}"


def case_decode_streams(check: Checker) -> tuple[bool, str]:
    """8: vsinr decode holds one frame at a time: its peak memory does not grow with the file's length."""
    peaks = {}
    for frames in (8, 96):
        source = check.folder / f"long{frames}.vsnerv"
        made = check.python(
            "import torch\nfrom fractions import Fraction\nfrom pathlib import Path\n"
            "from vsinr_snerv import compress\ntorch.manual_seed(0)\n"
            f"compress.encode(torch.rand({frames}, 3, 240, 320), Fraction(24), Path({str(source)!r}), size='1.5M', "
            "epochs=1)\n", timeout=600)
        if made.returncode:
            return False, f"could not write a {frames}-frame file: {made.stderr.strip()[-160:]}"
        done = check.python(
            "import resource, subprocess, sys\n"
            f"subprocess.run([{str(BIN / 'vsinr')!r}, 'decode', {str(source)!r}, '-o', "
            f"{str(check.folder / f'long{frames}.mkv')!r}], check=True, capture_output=True)\n"
            "print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n", timeout=600)
        line = next((x for x in done.stdout.splitlines() if x.startswith("PEAK")), None)
        if line is None:
            return False, f"vsinr decode of {frames} frames failed: {done.stderr.strip()[-160:]}"
        peaks[frames] = float(line.split()[1])
    grown = peaks[96] - peaks[8]
    held = 88 * 3 * 240 * 320 * 4 / 2**20  # 88 more float frames of 320x240
    return grown < held / 2, f"peak {peaks[8]:.0f} MiB for 8 frames, {peaks[96]:.0f} MiB for 96 ({held:.0f} MiB if held)"


def case_cli_tracebacks(check: Checker, video: Path) -> tuple[bool, str]:
    """10: user errors in the CLI are one line, no traceback."""
    seen = []
    for args in (["run", str(video), "-o", str(check.folder / "o.mkv"), "-f", 'STVSR(sscale="two")'],
                 ["encode", str(video), "-o", str(check.folder / "o.vsnerv"), "--device", "cuda:7", "--epochs", "1"]):
        done = check.vsinr(*args)
        seen.append((done.returncode != 0 and "Traceback" not in done.stderr, f"{args[0]}: exit {done.returncode}, "
                     f"{done.stderr.strip().splitlines()[-1][:80] if done.stderr.strip() else ''}"))
    return all(ok for ok, _ in seen), "; ".join(text for _, text in seen)


def case_y4m(check: Checker, video: Path) -> tuple[bool, str]:
    """11: vsinr run -o out.y4m works with the default encoder."""
    out = check.folder / "out.y4m"
    done = check.vsinr("run", str(video), "-o", str(out), "--frames", "3")
    ok = done.returncode == 0 and out.is_file() and out.read_bytes().startswith(b"YUV4MPEG2")
    return ok, f"exit {done.returncode} {done.stderr.strip().splitlines()[-1][:100] if done.stderr.strip() else ''}"


def case_stale_parts(check: Checker, video: Path) -> tuple[bool, str]:
    """12: the .NAME.PID.part of a killed run is removed by the next run on that path."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = check.folder / f".kept.mkv.{dead.pid}.part"
    stale.write_bytes(b"half a file")
    done = check.vsinr("run", str(video), "-o", str(check.folder / "kept.mkv"), "--frames", "2")
    return done.returncode == 0 and not stale.exists(), f"exit {done.returncode}, stale part {'left' if stale.exists() else 'removed'}"


def case_checks(check: Checker, video: Path) -> tuple[bool, str]:
    """13: missing, late or misleading checks."""
    cache_file = check.folder / "a-file"
    cache_file.write_bytes(b"")
    gray = "core.std.BlankClip(clip, format=vs.GRAY8)"
    results = {
        "weights=folder": _creation(check, "core.vsinr.STVSR(clip, 2, 2, method='videoinr', weights='/tmp')", "folder"),
        "cache=file": _creation(check, f"core.vsinr.Interpolate(clip, 2, method='ofsiren', cache={str(cache_file)!r})",
                                "is a file"),
        "Inpaint(size='10')": _creation(check, f"core.vsinr.Inpaint(clip, {gray}, size='10')", "smallest model"),
        "classic weights=": _creation(check, "core.vsinr.STVSR(clip, 2, 2, method='classic', weights='x.safetensors')",
                                      "has no weights"),
    }
    empty = check.python("import vapoursynth as vs\ntry:\n"
                         f"    vs.core.vsinr.Decode({str(CORPUS / 'empty.vsnerv')!r})\nexcept vs.Error as exc:\n"
                         "    print(exc)\n")
    results["0-byte .vsnerv"] = ("empty" in empty.stdout and "magic" not in empty.stdout, empty.stdout.strip()[:100])
    for label, args, expected in (
        ("--crf 99", ["run", str(video), "-o", str(check.folder / "c.mkv"), "--crf", "99"], "0<=x<=51"),
        ("--size inf", ["encode", str(video), "-o", str(check.folder / "c.vsnerv"), "--size", "inf"], "size"),
        ("--crop 100x100", ["encode", str(video), "-o", str(check.folder / "c.vsnerv"), "--crop", "100x100",
                            "--epochs", "1"], "crop"),
    ):
        done = check.vsinr(*args)
        results[label] = (done.returncode != 0 and expected in done.stderr and "Traceback" not in done.stderr,
                          f"exit {done.returncode}")
    failed = [label for label, (ok, _) in results.items() if not ok]
    return not failed, "all refused clearly" if not failed else "not: " + ", ".join(
        f"{label} ({results[label][1]})" for label in failed)


def _video(folder: Path) -> Path:
    import av
    import numpy as np

    path = folder / "small.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for n in range(6):
            rgb = np.zeros((32, 48, 3), np.uint8)
            rgb[:, (n * 5) % 48 :, 0] = 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", type=Path, default=ROOT)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        check = Checker(args.checkout.resolve(), folder)
        video = _video(folder)
        cases: list[tuple[str, Callable[[], tuple[bool, str]]]] = [
            ("1 forged size/rate", lambda: case_forged_header(check)),
            ("2 declared allocation", lambda: case_declared_allocation(check)),
            ("3 amplification", lambda: case_amplification(check)),
            ("4 memory per rate factor", lambda: case_rate_memory(check)),
            ("5 NaN pixel", lambda: case_nan_pixel(check)),
            ("6 inconsistent fields", lambda: case_inconsistent_fields(check)),
            ("7 Ctrl-C during creation", lambda: case_interrupt_in_creation(check)),
            ("8 vsinr decode streams", lambda: case_decode_streams(check)),
            ("9 weights dtypes and values", lambda: _both(
                _creation(check, f"core.vsinr.STVSR(clip, 2, 2, method='videoinr', "
                          f"weights={str(CORPUS / 'bool-tensors.safetensors')!r})", "floating point"),
                _creation(check, f"core.vsinr.STVSR(clip, 2, 2, method='videoinr', "
                          f"weights={str(CORPUS / 'hr-input-evil.safetensors')!r})", "hr_input"))),
            ("10 CLI tracebacks", lambda: case_cli_tracebacks(check, video)),
            ("11 y4m output", lambda: case_y4m(check, video)),
            ("12 stale .part files", lambda: case_stale_parts(check, video)),
            ("13 late or misleading checks", lambda: case_checks(check, video)),
        ]
        for label, run in cases:
            try:
                ok, detail = run()
            except subprocess.TimeoutExpired:
                ok, detail = False, "timed out"
            rows.append((label, ok, detail))
            print(f"{'pass' if ok else 'FAIL'}  {label}: {detail}", file=sys.stderr, flush=True)
    if args.markdown:
        lines = [f"`scripts/check_hostile.py --checkout {args.checkout}`", "", "| case | result | seen |", "|---|---|---|"]
        lines += [f"| {label} | {'pass' if ok else 'FAIL'} | {detail.replace('|', '/')} |" for label, ok, detail in rows]
        args.markdown.write_text("\n".join(lines) + "\n")
    print(json.dumps({label: ok for label, ok, _ in rows}))


def _both(a: tuple[bool, str], b: tuple[bool, str]) -> tuple[bool, str]:
    return a[0] and b[0], f"{a[1]}; {b[1]}"


if __name__ == "__main__":
    main()
