"""Space-time SR speed of the engines (videoinr with its default or given weights, zsm, classic) at ×4
space ×2 time, without VapourSynth: frames out per second, peak GPU memory, and how far fp16/bf16 output
strays from fp32.

    python scripts/bench_stvsr_speed.py --width 480 --height 270 --device cuda --precision fp16
    python scripts/bench_stvsr_speed.py --width 176 --height 144 --device cpu --method videoinr --method classic

``classic`` is timed on frames resized by torch's bicubic, standing in for zimg's Spline36 (which the
host runs before it); the flow and the warps are what it costs.

The input is a crop of a photo moved a few pixels per frame (speed does not depend on content). Untiled:
the whole frame in one pass, which is what the host does when memory allows. Results go to stderr and,
with --json, to a file.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import numpy as np
import torch
from vsinr_classic.engine import FlowEngine
from vsinr_videoinr import engine as videoinr
from vsinr_zsm import engine as zsm


def _frames(count: int, height: int, width: int, device: str) -> list[torch.Tensor]:
    """A smooth, textured test sequence (count, 3, height, width) in [0, 1], panning right."""
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    frames = []
    for i in range(count):
        x = xs + 3 * i
        image = np.stack([0.5 + 0.4 * np.sin(x / 7 + ys / 11), 0.5 + 0.4 * np.cos(x / 5 - ys / 9),
                          0.5 + 0.4 * np.sin((x + ys) / 13)])
        frames.append(torch.from_numpy(image).float().to(device))
    return frames


def _run(engine, frames: list[torch.Tensor], pairs: int, scale: int, device: str) -> tuple[float, int, torch.Tensor]:
    """Seconds per output frame, outputs made, and the first output (for the precision check)."""
    h, w = frames[0].shape[-2:]
    window, step = engine.window, engine.step
    times = [i / 2 for i in range(2 * (window - 1))]  # ×2: every source instant and every midpoint
    out = [torch.empty(3, scale * h, scale * w, device=device) for _ in times]
    engine.render(frames[:window], times, out)  # warm-up (cuDNN autotuning, allocator)
    first = out[0].clone()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start, made = time.perf_counter(), 0
    for k in range(pairs):
        begin = (k * step) % (len(frames) - window + 1)
        engine.render(frames[begin:begin + window], times, out)
        made += len(times)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / made, made, first


@click.command()
@click.option("--method", "methods", multiple=True, default=("videoinr", "zsm"), show_default=True,
              help="videoinr, zsm or classic (repeatable)")
@click.option("--weights", default="", help="videoinr weights (empty: the default)")
@click.option("--width", default=480, show_default=True)
@click.option("--height", default=270, show_default=True)
@click.option("--device", default="cuda" if torch.cuda.is_available() else "cpu", show_default=True)
@click.option("--precision", "precisions", multiple=True, default=("fp32",), show_default=True,
              help="fp32, fp16 or bf16 (repeatable; the half precisions need CUDA).")
@click.option("--windows", default=4, show_default=True, help="Windows timed after one warm-up.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the results here.")
def main(methods: tuple[str, ...], weights: str, width: int, height: int, device: str, precisions: tuple[str, ...],
         windows: int, json_path: Path | None) -> None:
    frames = _frames(12, height, width, device)
    results = []
    for method in methods:
        reference = None
        for precision in ("fp32", *[p for p in precisions if p != "fp32"]):
            if method == "videoinr":
                engine = videoinr.build_engine(weights, device, precision)
            elif method == "classic":
                engine = FlowEngine(flow_scale=0.25)  # resizes the pair itself (torch bicubic)
            else:
                engine = zsm.build_engine("", "stvsr", "clean", device, precision)
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            seconds, made, first = _run(engine, frames, windows, 4, device)
            peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
            if reference is None:
                reference = first
            row = {"method": method, "precision": precision, "device": device,
                   "input": f"{width}x{height}", "output": f"{4 * width}x{4 * height}",
                   "fps": round(1 / seconds, 2), "frames_timed": made, "peak_gpu_mib": peak and round(peak),
                   "max_abs_diff_vs_fp32": round(float((first - reference).abs().max()), 5),
                   "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None}
            results.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            del engine
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
    if json_path:
        json_path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
