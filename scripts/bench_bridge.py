"""Bridge overhead: classic STVSR ×2 space ×4 time against the same work done by native VapourSynth
filters (resize.Bicubic + std.Merge + std.Interleave), in one run on the same input.

    python scripts/bench_bridge.py [--width 640 --height 360 --frames 60 --threads 2] [--profile]

Prints frames per second and milliseconds per output frame for both, and their ratio.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from fractions import Fraction

import numpy as np
import vapoursynth as vs

from vsinr.io import media


def source(width: int, height: int, frames: int) -> vs.VideoNode:
    """Textured moving content (so no filter can shortcut constant frames)."""
    base = np.random.default_rng(0).random((3, height, width + frames), dtype=np.float32)
    return media.clip_from_arrays([base[:, :, n : n + width] for n in range(frames)], Fraction(25))


def native(clip: vs.VideoNode, sscale: int, tscale: int) -> vs.VideoNode:
    up = vs.core.resize.Bicubic(clip, clip.width * sscale, clip.height * sscale)
    nxt = up[1:] + up[-1]
    parts = [up] + [vs.core.std.Merge(up, nxt, weight=i / tscale) for i in range(1, tscale)]
    return vs.core.std.Interleave(parts)


def timed(clip: vs.VideoNode) -> float:
    start = time.perf_counter()
    for _ in clip.frames():
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the vsinr run (top 15 by own time)")
    args = parser.parse_args()
    vs.core.num_threads = args.threads
    import torch

    torch.set_num_threads(args.threads)
    src = source(args.width, args.height, args.frames)
    timed(src)  # warm the source's frames

    results = {}
    for name, build in (("native", lambda: native(src, 2, 4)), ("vsinr classic", lambda: vs.core.vsinr.STVSR(src, 2, 4))):
        timed(build()[:8])  # warm-up: imports, allocator
        best = min(timed(build()) for _ in range(args.repeat))
        count = build().num_frames
        results[name] = best / count
        print(f"{name:14s} {count / best:8.1f} fps  {1000 * best / count:7.2f} ms/frame  "
              f"({count} frames {2 * args.width}x{2 * args.height})", file=sys.stderr)
    print(f"ratio vsinr/native: {results['vsinr classic'] / results['native']:.2f}x per frame", file=sys.stderr)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        timed(vs.core.vsinr.STVSR(src, 2, 4))
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
