"""Wall time of one ``vsinr run`` job in one process, in segments, in 2 worker processes and on a 2-worker
local Ray cluster, with the stage times each run reports; and the cost of one more segment.

    python scripts/bench_segments.py CLIP [--filter 'STVSR(2, 2.5)'] [--frames 120] [--markdown out.md]

Every segmented output is checked frame for frame (FFV1, decoded) against the one-process output.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

VSINR = str(Path(sys.executable).with_name("vsinr"))


def _run(args: list[str]) -> tuple[float, str]:
    start = time.monotonic()
    result = subprocess.run([VSINR, "run", *args], capture_output=True, text=True)
    seconds = time.monotonic() - start
    if result.returncode:
        sys.exit(f"vsinr run {' '.join(args)} failed:\n{result.stderr}")
    summary = [line for line in result.stderr.splitlines() if " segments (" in line]
    return seconds, summary[-1] if summary else ""


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path)
    parser.add_argument("--filter", default="STVSR(2, 2.5)")
    parser.add_argument("--frames", type=int, default=120, help="source frames (STVSR(2, 2.5) of 120 gives 300)")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        base = [str(args.clip), "--frames", str(args.frames), "--codec", "ffv1", "-f", args.filter]
        reference = Path(folder) / "one.mkv"
        _run([str(args.clip), "--frames", "2", "-o", str(Path(folder) / "warm.mkv"), "-q"])  # the source index is made once
        seconds, _ = _run([*base, "-o", str(reference), "-q"])
        rows.append(("one process", seconds, "-"))
        expected = _frames(reference)
        for label, extra in [("4 segments, in this process", ["--segments", "4"]),
                             ("2 worker processes (--jobs 2)", ["--jobs", "2"]),
                             ("Ray, 2 local workers (--ray --jobs 2)", ["--ray", "--jobs", "2"])]:
            out = Path(folder) / "out.mkv"
            seconds, summary = _run([*base, "-o", str(out), *extra])
            same = _frames(out)
            assert len(same) == len(expected) and all(np.array_equal(a, b) for a, b in zip(same, expected, strict=True))
            out.unlink()
            rows.append((label, seconds, re.sub(r"^.*?in [\d.]+ s ", "", summary)))
        # one more segment: a cheap filter on the same frames, 1 segment against 16
        cheap = [str(args.clip), "--frames", str(args.frames), "--codec", "ffv1", "-f", "STVSR(1, 2, method='classic')"]
        one, _ = _run([*cheap, "-o", str(Path(folder) / "c1.mkv"), "--segments", "1"])
        many, _ = _run([*cheap, "-o", str(Path(folder) / "c16.mkv"), "--segments", "16"])
    lines = [f"`vsinr run {args.clip.name} --frames {args.frames} -f \"{args.filter}\" --codec ffv1` "
             f"({len(expected)} output frames):", "", "| run | wall time | stages |", "|---|---:|---|"]
    lines += [f"| {label} | {seconds:.1f} s | {stages} |" for label, seconds, stages in rows]
    lines += ["", f"One more segment (classic STVSR(1, 2), 1 against 16 segments in one process): "
                  f"{(many - one) / 15:.2f} s each ({one:.1f} s against {many:.1f} s)."]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
