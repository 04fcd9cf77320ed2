"""The vsinr command: run, frameserve (stdout and named pipe), filter strings, safe output files."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import run

from vsinr.app import filterspec

SCRIPT = """
import vapoursynth as vs
from vapoursynth import core
clip = core.std.BlankClip(width=32, height=24, format=vs.RGBS, length=5, fpsnum=25, color=[0.2, 0.4, 0.6])
core.vsinr.STVSR(clip, 2, 2).set_output()
"""



def _probe(path: Path) -> tuple[int, int, int, Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return stream.width, stream.height, count, Fraction(stream.guessed_rate or stream.average_rate)


def _rgb_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


def test_run_applies_the_filter_and_encodes(small_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    result = run(["vsinr", "run", str(small_video), "-o", str(out), "--filter", "STVSR(sscale=2, tscale=2)"])
    assert result.returncode == 0, result.stderr.decode()
    width, height, count, _ = _probe(out)
    assert (width, height, count) == (96, 64, 16)
    assert result.stdout.decode().strip() == str(out)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_run_writes_y4m_and_removes_what_killed_runs_left(small_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.y4m"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer runs, as a killed run's
    stale, live = tmp_path / f".out.y4m.{dead.pid}.part", tmp_path / f".out.y4m.{os.getpid()}.part"
    stale.write_bytes(b"half")
    live.write_bytes(b"another write in progress")
    result = run(["vsinr", "run", str(small_video), "-o", str(out), "--frames", "3"])
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes().startswith(b"YUV4MPEG2 W48 H32 ") and _probe(out)[2] == 3
    assert not stale.exists() and live.exists()  # this test's own process still runs
    compressed = run(["vsinr", "run", str(small_video), "-o", str(out), "--codec", "libx264"])
    assert compressed.returncode == 1 and "holds uncompressed frames only" in compressed.stderr.decode()


def test_run_reports_filter_errors_and_leaves_no_file(small_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    bad = run(["vsinr", "run", str(small_video), "-o", str(out), "--filter", "STVSR(sscale=-1)"])
    assert bad.returncode == 1 and "sscale must be a positive number" in bad.stderr.decode()
    unknown = run(["vsinr", "run", str(small_video), "-o", str(out), "--filter", "Upscale(2)"])
    assert unknown.returncode == 2 and "no function 'Upscale'" in unknown.stderr.decode()
    garbage = run(["vsinr", "run", str(small_video), "-o", str(out), "--filter", "STVSR(2"])
    assert garbage.returncode == 2 and "is not a call" in garbage.stderr.decode()
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_run_keeps_an_existing_file_when_encoding_fails(small_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "keep.mkv"
    out.write_bytes(b"precious")
    result = run(["vsinr", "run", str(small_video), "-o", str(out), "--codec", "no-such-codec"])
    assert result.returncode == 1 and "unknown encoder 'no-such-codec'" in result.stderr.decode()
    assert out.read_bytes() == b"precious" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.mkv"]


def test_frameserve_to_stdout(tmp_path: Path) -> None:
    script = tmp_path / "s.vpy"
    script.write_text(SCRIPT)
    result = run(["vsinr", "frameserve", str(script)])
    assert result.returncode == 0, result.stderr.decode()
    header = result.stdout.split(b"\n", 1)[0].split()
    assert header[0] == b"YUV4MPEG2" and b"W64" in header and b"H48" in header and b"F50:1" in header
    assert result.stdout.count(b"FRAME\n") == 10


def test_frameserve_through_a_named_pipe(tmp_path: Path) -> None:
    script, fifo = tmp_path / "s.vpy", tmp_path / "video.y4m"
    script.write_text(SCRIPT)
    received: list[bytes] = []

    def reader() -> None:
        while not fifo.exists():
            threading.Event().wait(0.05)
        with open(fifo, "rb") as stream:
            received.append(stream.read())

    thread = threading.Thread(target=reader)
    thread.start()
    result = run(["vsinr", "frameserve", str(script), "--fifo", str(fifo)])
    thread.join(timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert received and received[0].startswith(b"YUV4MPEG2 ") and received[0].count(b"FRAME\n") == 10
    assert os.path.exists(fifo)


def test_filter_strings() -> None:
    assert filterspec.parse("STVSR(sscale=2, tscale=4)") == filterspec.FilterCall("STVSR", (), {"sscale": 2, "tscale": 4})
    assert filterspec.parse("STVSR(2, 4, method='classic')").args == (2, 4)
    assert filterspec.parse("Interpolate").name == "Interpolate"
    for bad in ("STVSR(2", "os.system('x')", "STVSR(sscale=__import__('os'))", "1 + 2"):
        with pytest.raises(ValueError):
            filterspec.parse(bad)


@pytest.mark.heavy
def test_run_inpaints_where_the_mask_file_is_white(small_video: Path, tmp_path: Path) -> None:
    """``--mask`` reaches Inpaint (binarised); pixels away from the mask come through; a mask nothing takes is refused."""
    mask_file = tmp_path / "mask.mkv"
    with av.open(str(mask_file), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for _ in range(8):
            gray = np.zeros((32, 48, 3), np.uint8)
            gray[8:24, 16:32] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(gray, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    from vsinr.app.graph import open_mask as _open_mask

    mask = _open_mask(mask_file, 5)
    holes = np.asarray(mask.get_frame(4)[0])
    assert mask.num_frames == 5 and set(np.unique(holes)) == {0, 255}  # binary despite x264's noise
    assert holes[10:22, 18:30].min() == 255 and holes[:6].max() == 0 and holes[:, :14].max() == 0
    out = tmp_path / "out.mkv"
    result = run(["vsinr", "run", str(small_video), "-o", str(out), "--codec", "ffv1", "--mask", str(mask_file),
                  "--filter", "Inpaint(method='snerv', size='50000', epochs=1, cache='off')"])
    assert result.returncode == 0, result.stderr.decode()
    assert _probe(out)[:3] == (48, 32, 8)
    # away from the hole (RGB→YUV 4:2:0 mixes chroma over a few pixels) the frames are those of the run without Inpaint
    plain = tmp_path / "plain.mkv"
    assert run(["vsinr", "run", str(small_video), "-o", str(plain), "--codec", "ffv1"]).returncode == 0
    away = np.ones((32, 48), bool)
    away[2:30, 10:38] = False
    pairs = list(zip(_rgb_frames(plain), _rgb_frames(out), strict=True))
    assert all(np.array_equal(a[away], b[away]) for a, b in pairs)
    assert any(not np.array_equal(a[~away], b[~away]) for a, b in pairs)  # the hole was refilled
    unused = run(["vsinr", "run", str(small_video), "-o", str(tmp_path / "x.mkv"), "--mask", str(mask_file),
                  "--filter", "STVSR(2, 2)"])
    assert unused.returncode == 2 and "none of the filters takes a mask" in unused.stderr.decode()


@pytest.mark.heavy
def test_user_errors_are_one_line_without_a_traceback(small_video: Path, tmp_path: Path) -> None:
    import resource
    import signal

    out = tmp_path / "out.mkv"
    typed = run(["vsinr", "run", str(small_video), "-o", str(out), "--filter", 'STVSR(sscale="two")'])
    assert typed.returncode == 2 and "could not convert string to float: 'two'" in typed.stderr.decode()
    script = tmp_path / "broken.vpy"
    script.write_text("import vapoursynth\n\nraise RuntimeError('the script broke')\n")
    served = run(["vsinr", "frameserve", str(script)])
    assert served.returncode == 1 and "broken.vpy, line 3: RuntimeError: the script broke" in served.stderr.decode()
    if not __import__("torch").cuda.is_available():
        gpu = run(["vsinr", "encode", str(small_video), "-o", str(tmp_path / "x.vsnerv"), "--device", "cuda"])
        assert gpu.returncode == 2 and "torch sees no CUDA GPU" in gpu.stderr.decode()
    out.write_bytes(b"an earlier output")

    def small_files() -> None:  # a full disk, as the file-size limit makes it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))

    full = run(["vsinr", "run", str(small_video), "-o", str(out), "--codec", "ffv1", "--filter", "STVSR(2, 2)"],
               preexec_fn=small_files)
    assert full.returncode == 1 and "vsinr: error: [Errno 27] File too large" in full.stderr.decode()
    assert out.read_bytes() == b"an earlier output" and not list(tmp_path.glob(".out.mkv.*"))
    crop = run(["vsinr", "encode", str(small_video), "-o", str(tmp_path / "x.vsnerv"), "--crop", "100x100"])
    assert crop.returncode == 2 and "100x100 is larger than the 48x32 frames" in crop.stderr.decode()
    crf = run(["vsinr", "run", str(small_video), "-o", str(out), "--crf", "99"])
    assert crf.returncode == 2 and "0<=x<=51" in crf.stderr.decode()
    for result in (typed, served, full, crop, crf):
        assert b"Traceback" not in result.stderr
