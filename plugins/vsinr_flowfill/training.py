"""``vsinr train flowfill``: windows of frames with holes of four kinds, the flow-guided fill of the middle
frame (``propagate.frame_planes``) in, the frame as it was out, the loss inside the holes only."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from vsinr.training.data import augment
from vsinr.training.recipe import Batch, Recipe
from vsinr_flowfill import propagate
from vsinr_flowfill.engine import FAMILY
from vsinr_flowfill.model import CONFIGS, FillNet

#: Frames on each side of the middle frame in a training window.
RADIUS = 4
#: Kinds of holes: a still box (a logo), boxes drawn anew in each frame (dropouts), a moving blob (an
#: object), thin scratches.
KINDS = ("fixed", "moving", "object", "scratch")


def holes(rng: np.random.Generator, frames: int, size: int, kind: str) -> torch.Tensor:
    """(frames, 1, size, size) bool holes of one kind; the middle frame always has some."""
    masks = torch.zeros(frames, 1, size, size, dtype=torch.bool)

    def box(mask: torch.Tensor) -> None:
        h, w = (int(v) for v in rng.integers(size // 8, size // 2, size=2))
        y, x = int(rng.integers(0, size - h)), int(rng.integers(0, size - w))
        mask[..., y : y + h, x : x + w] = True

    if kind == "fixed":
        for _ in range(int(rng.integers(1, 3))):
            box(masks)
    elif kind == "moving":
        for t in range(frames):
            for _ in range(int(rng.integers(1, 3))):
                box(masks[t])
    elif kind == "object":
        ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
        ry, rx = rng.uniform(size / 12, size / 4, size=2)
        cy, cx = rng.uniform(size / 4, 3 * size / 4, size=2)
        vy, vx = rng.normal(0, size / 24, size=2)
        for t in range(frames):
            dt = t - frames // 2
            masks[t, 0] = ((ys - cy - vy * dt) / ry) ** 2 + ((xs - cx - vx * dt) / rx) ** 2 <= 1
    else:
        for t in range(frames):
            for _ in range(int(rng.integers(1, 4))):
                x, width = int(rng.integers(0, size - 4)), int(rng.integers(1, 5))
                masks[t, 0, :, x : x + width] = True
    if not masks[frames // 2].any():
        box(masks[frames // 2])
    return masks


def samples(sources: Sequence[Any], rng: np.random.Generator, batch: int, patch: int) -> Batch:
    """Network inputs (B, INPUTS, p, p) of the middle frames of windows with holes, and the frames (B, 3, p, p)."""
    inputs, targets = [], []
    for _ in range(batch):
        frames, times = sources[int(rng.integers(len(sources)))].sample(rng, (patch, patch), inner=2 * RADIUS - 1, uniform=True)
        frames, _ = augment(rng, frames, times)
        frames = (frames * 255).round() / 255
        masks = holes(rng, len(frames), patch, KINDS[int(rng.integers(len(KINDS)))])
        window = propagate.prepare(torch.where(masks, 0.0, frames), masks)
        inputs.append(propagate.frame_planes(window, RADIUS, RADIUS))
        targets.append(frames[RADIUS])
    return torch.stack(inputs), torch.stack(targets)


class FlowFillTraining(Recipe):
    """flowfill's network on windows of 9 frames (real clips at strides from 1, synthetic motion of photos)
    with still boxes, dropouts, moving blobs or scratches; the fixed validation set: 96×96 windows, 16 per
    source. The loss (Charbonnier) counts hole pixels only (the others are the source's)."""

    name = "flowfill"
    method = "flowfill"
    family = FAMILY
    summary = "flowfill's network: corrects the flow-guided fill of holes (Inpaint)"
    configs = CONFIGS
    default_config = "fill"
    defaults = {"steps": 8000, "batch": 8, "patch": 96, "lr": 5e-4}
    val_batches = 2

    def model(self, args: argparse.Namespace) -> FillNet:
        return FillNet(CONFIGS[args.config])

    def batch(self, sources: Sequence[Any], rng: np.random.Generator, size: int, args: argparse.Namespace,
              model: torch.nn.Module, stage: str, validation: bool = False) -> Batch:
        return samples(sources, rng, size, 96 if validation else args.patch)

    def loss(self, model: torch.nn.Module, inputs: Sequence[torch.Tensor], output: torch.Tensor,
             target: torch.Tensor, args: argparse.Namespace) -> torch.Tensor:
        hole = inputs[0][:, -2:-1]
        return (torch.sqrt((output - target) ** 2 + 1e-6) * hole).sum() / (3 * hole.sum()).clamp_min(1)


RECIPES = (FlowFillTraining(),)
