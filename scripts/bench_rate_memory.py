"""Peak memory of one interpolated frame against the rate factor (each factor in a fresh process).

    python scripts/bench_rate_memory.py [--width 1280 --height 720] [--factor 2 --factor 128] [--method classic]

Prints, per factor, the rise of the process's peak resident memory while one output frame in the
middle of a window is made (after a first frame warmed everything up).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = """
import json, resource, sys
import vapoursynth as vs
width, height, factor, method = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
clip = vs.core.std.BlankClip(width=width, height=height, format=vs.RGBS, length=6, fpsnum=24, color=[0.2, 0.5, 0.7])
args = {"motion": "blend"} if method == "classic" else {}
out = vs.core.vsinr.Interpolate(clip, factor, method=method, **args)
out.get_frame(1)  # warm-up: engine, first window
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out.get_frame(int(2.5 * factor))  # a frame of another window
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"factor": factor, "peak_rise_mib": round((after - before) / 1024, 1),
                  "peak_mib": round(after / 1024, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--factor", type=float, action="append")
    parser.add_argument("--method", default="classic")
    args = parser.parse_args()
    for factor in args.factor or [2, 32, 128]:
        done = subprocess.run([sys.executable, "-c", CHILD, str(args.width), str(args.height), str(factor), args.method],
                              capture_output=True, text=True, check=True)
        print(done.stdout.strip())


if __name__ == "__main__":
    main()
