"""Frames per second and peak memory of every learned default per backend (``backend=``), in one run.

    python scripts/bench_backends.py [--frames 8] [--case NAME ...] [--json out.json]

Each (case, backend) runs in a fresh process (peak memory is the process's own): a moving texture at
the case's source size through the filter, one frame to warm up (export, engine build), then
the output frames of ``--frames`` source frames in the middle of the clip, all requested at once
(VapourSynth's default threads share them, as under vspipe), timed. A second, single-threaded
pass splits the time between DIS flow, the network, and the rest (warping, the fixed base and the
transfer between VapourSynth and torch). The CPU variants: torch, ort and ov in fp32, and ov in
bf16 (``precision="bf16"``). On a machine with CUDA, the GPU backends are added: torch
eager in fp32, fp16 and bf16, ONNX Runtime's CUDA provider and TensorRT (fp16). The table goes to
stdout; ``--json`` keeps it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

#: name → (function, source width, height, arguments, what it stands for)
CASES: dict[str, tuple[str, int, int, dict[str, Any], str]] = {
    "stvsr_x4x2_cif": ("stvsr", 176, 144, {"sscale": 4, "tscale": 2, "method": "zsm"}, "STVSR x4 x2, 176x144 -> 704x576"),
    "stvsr_x4x2_1080": ("stvsr", 480, 270, {"sscale": 4, "tscale": 2, "method": "zsm"}, "STVSR x4 x2, 480x270 -> 1920x1080"),
    "stvsr_x2x2_720": ("stvsr", 640, 360, {"sscale": 2, "tscale": 2, "method": "videoinr"}, "STVSR x2 x2, 640x360 -> 1280x720"),
    "denoise_720": ("denoise", 1280, 720, {"method": "zsm", "degradation": "noise"}, "Denoise (noise), 1280x720"),
    "inpaint_cif": ("inpaint", 352, 288, {"method": "flowfill"}, "Inpaint, 352x288, five 50x50 holes"),
}
#: CPU variants: (label, backend, precision)
CPU = [("torch", "torch", "fp32"), ("ort", "ort", "fp32"), ("ov", "ov", "fp32"), ("ov bf16", "ov", "bf16")]
#: GPU variants: (label, backend, precision)
GPU = [("cuda fp32", "torch", "fp32"), ("cuda fp16", "torch", "fp16"), ("cuda bf16", "torch", "bf16"),
       ("ort cuda", "ort", "fp32"), ("trt fp16", "trt", "fp32")]


def _clip(width: int, height: int, count: int) -> Any:
    """A smooth texture sliding by (1.5, 0.75) px a frame, RGBS."""
    from fractions import Fraction

    import numpy as np
    import torch
    import torch.nn.functional as F

    from vsinr.io import media

    rng = np.random.default_rng(0)
    base = torch.from_numpy(rng.random((1, 3, height // 8 + 8, width // 8 + 8)).astype(np.float32))
    texture = F.interpolate(base, scale_factor=8, mode="bicubic", align_corners=False).clamp(0, 1)[0]
    frames = [texture[:, int(0.75 * n) : int(0.75 * n) + height, int(1.5 * n) : int(1.5 * n) + width].numpy().copy()
              for n in range(count)]
    return media.clip_from_arrays(frames, Fraction(24))


def _filter(case: str, backend: str, precision: str, device: str, count: int) -> Any:
    import numpy as np

    import vsinr
    from vsinr.io import media

    function, width, height, args, _ = CASES[case]
    clip = _clip(width, height, count)
    extra = {"backend": backend, "device": device}
    if precision != "fp32":
        extra["precision"] = precision
    if function == "inpaint":
        holes = np.zeros((height, width), bool)
        for fy, fx in ((2, 2), (1, 1), (1, 3), (3, 1), (3, 3)):
            y, x = fy * height // 4 - 25, fx * width // 4 - 25
            holes[y : y + 50, x : x + 50] = True
        return vsinr.inpaint(clip, media.mask_clip(holes, clip), **args, **extra)
    if function == "denoise":
        return vsinr.denoise(clip, **args, **extra)
    args = dict(args)
    return vsinr.stvsr(clip, args.pop("sscale"), args.pop("tscale"), **args, **extra)


class _Timer:
    """Adds up the time spent in wrapped callables."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - start

        return timed


def _split(case: str, backend: str, precision: str, device: str, count: int) -> dict[str, float]:
    """Seconds per output frame in DIS flow, in the network and in everything else, one frame at a time
    (the flow of a pair is computed once for the outputs between it)."""
    import vapoursynth as vs
    from vsinr_flowfill import engine as fill_engine
    from vsinr_videoinr import flowinr
    from vsinr_zsm import flowzsm

    from vsinr.ops import flow
    from vsinr.runtime import backends, inference

    inference._engines.clear()  # the timed pass's engine holds unwrapped networks
    timer = _Timer()
    flow._calc = timer.wrap("flow", flow._calc)
    flowzsm.FlowZSM._correction = timer.wrap("network", flowzsm.FlowZSM._correction)  # torch's path
    flowinr.FlowINR._encoder = timer.wrap("network", flowinr.FlowINR._encoder)
    decode = flowinr.FlowINR.decode

    def timed_decode(self: Any, *a: Any, decoder: Any = None, **k: Any) -> Any:  # torch's decoder is a module
        return decode(self, *a, decoder=decoder or timer.wrap("network", self.decoder), **k)

    flowinr.FlowINR.decode = timed_decode  # type: ignore[method-assign]
    original = backends.network

    def network(*a: Any, **k: Any) -> Any:  # the runtimes' path (and flowfill's, whatever the backend)
        return timer.wrap("network", original(*a, **k))

    backends.network = network
    fill_engine.backends.network = network
    vs.core.num_threads = 1
    out = _filter(case, backend, precision, device, count + 2 * MARGIN)
    out.get_frame(0)
    timer.seconds.clear()
    frames = _timed(out, count)
    start = time.perf_counter()
    for n in frames:
        out.get_frame(n)
    total = time.perf_counter() - start
    per = {k: v / len(frames) for k, v in timer.seconds.items()}
    return {"flow_s": per.get("flow", 0.0), "network_s": per.get("network", 0.0),
            "other_s": total / len(frames) - per.get("flow", 0.0) - per.get("network", 0.0), "total_s": total / len(frames)}


#: Source frames before and after the timed ones (windows at the ends of a clip are clamped and shared).
MARGIN = 8


def _timed(out: Any, count: int) -> range:
    """The output frames of source frames MARGIN … MARGIN + count - 1."""
    per = out.num_frames // (count + 2 * MARGIN)
    return range(MARGIN * per, (MARGIN + count) * per)


def one(case: str, backend: str, precision: str, device: str, count: int) -> dict[str, Any]:
    """The measurements of one case on one backend (in this process)."""
    import concurrent.futures

    out = _filter(case, backend, precision, device, count + 2 * MARGIN)
    start = time.perf_counter()
    out.get_frame(0)
    first = time.perf_counter() - start
    frames = _timed(out, count)
    start = time.perf_counter()
    futures = [out.get_frame_async(n) for n in frames]  # all at once: the default threads share them
    concurrent.futures.wait(futures)
    for future in futures:
        future.result()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"fps": len(frames) / seconds, "first_s": first, "peak_mib": peak, "frames": len(frames)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=8, help="source frames after the warm-up")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: all")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--one", nargs=4, metavar=("CASE", "BACKEND", "PRECISION", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        case, backend, precision, device = args.one
        result = one(case, backend, precision, device, args.frames)
        result |= _split(case, backend, precision, device, max(2, args.frames // 2))
        print(json.dumps(result))
        return
    import torch

    from vsinr.runtime import backends

    variants = [(label, b, p, "cpu") for label, b, p in CPU if backends.installed(b)]
    if torch.cuda.is_available():
        variants += [(label, b, p, "cuda") for label, b, p in GPU if b == "torch" or backends.installed(b)]
    results: dict[str, dict[str, Any]] = {}
    for case in args.case or list(CASES):
        results[case] = {}
        for label, backend, precision, device in variants:
            done = subprocess.run([sys.executable, __file__, "--frames", str(args.frames), "--one", case, backend,
                                   precision, device], capture_output=True, text=True)
            if done.returncode:
                results[case][label] = {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
            else:
                results[case][label] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{case} {label}: {results[case][label]}", file=sys.stderr)
    print("| case | backend | fps | first frame s | peak MiB | flow ms | network ms | other ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for case, rows in results.items():
        for label, r in rows.items():
            if "error" in r:
                print(f"| {CASES[case][4]} | {label} | error: {r['error']} | | | | | |")
                continue
            print(f"| {CASES[case][4]} | {label} | {r['fps']:.2f} | {r['first_s']:.1f} | {r['peak_mib']:.0f} | "
                  f"{1000 * r['flow_s']:.0f} | {1000 * r['network_s']:.0f} | {1000 * r['other_s']:.0f} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
