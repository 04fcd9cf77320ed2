"""flowfill's fixed base on held-out training material: PSNR inside the holes for settings of
``propagate`` (the flow's completion margin, how candidates are read), to choose them without the
development clips.

    python scripts/flowfill_base.py DATA [--batches 6]

DATA is what ``python scripts/training_data.py DATA`` makes; the windows are those of the recipe
(``vsinr_flowfill.training.samples``, 128×128, the four kinds of holes) from the held-out part of the
clips and from synthetic motion of the photos, the same for every setting (seed 12345).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from vsinr_flowfill import propagate
from vsinr_flowfill.training import samples

from vsinr.training.data import SyntheticMotion, VideoFolder


def score(sources: list, batches: int) -> float:
    """PSNR of the base inside the holes, pooled over the windows."""
    rng = np.random.default_rng(12345)
    error, count = 0.0, 0
    for _ in range(batches):
        x, y = samples(sources, rng, 8, 128)
        holes = x[:, -2:-1].bool().expand(-1, 3, -1, -1)
        error += float(((x[:, :3] - y)[holes] ** 2).sum())
        count += int(holes.sum())
    return -10 * math.log10(error / count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data")
    parser.add_argument("--batches", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sources = [VideoFolder(f"{args.data}/videos", "val"), SyntheticMotion(f"{args.data}/photos")]
    for margin in (4, 6):
        for values in ("bilinear", "nearest"):
            propagate.FLOW_MARGIN, propagate.VALUES = margin, values
            print(f"FLOW_MARGIN {margin}  VALUES {values:8s}  PSNR in the holes {score(sources, args.batches):.2f} dB")


if __name__ == "__main__":
    main()
