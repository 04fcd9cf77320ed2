"""How VideoINR's architectures are trained (``vsinr train videoinr-flow`` and ``vsinr train videoinr``):
their models, samples and losses; the entry (``vsinr.training.entry``) does the rest.

A sample is what the engine sees: a pair of low-resolution frames (MATLAB bicubic, 8-bit, as the
evaluation makes them) and the frame at a time t between them as the target, from windows of real clips
and of synthetic motion of photos.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vsinr.ops import flow
from vsinr.training.data import augment, degrade
from vsinr.training.loop import Stage
from vsinr.training.recipe import Batch, Recipe
from vsinr_videoinr.arch import CONFIGS as VIDEOINR_CONFIGS
from vsinr_videoinr.arch import VideoINR
from vsinr_videoinr.engine import FAMILY
from vsinr_videoinr.flowinr import CONFIGS, FlowINR
from vsinr_videoinr.interp import CONFIGS as INTERP_CONFIGS
from vsinr_videoinr.interp import FlowInterp


class FlowINRTraining(Recipe):
    """The flow-guided configuration (``flowinr.py``). Both frames are moved to t along DIS flow, as the
    engine does; in ``--aligned`` of the samples the target is a source frame itself (t = 0), the case of
    every source-aligned output frame of STVSR. Half the batches are at ×4, the others at a scale uniform
    in [``--min-scale``, 4] (the range goes to the weights' header; outside it the model gives its base).
    The fixed validation set is at ×4 with 48×48 inputs, interpolated and source frames from each source."""

    name = "videoinr-flow"
    method = "videoinr"
    family = FAMILY
    summary = "VideoINR's flow-guided configuration (the default weights): DIS flow + a learned spatial field"
    configs = CONFIGS
    default_config = "flow"
    defaults = {"steps": 6000, "batch": 8, "patch": 48, "lr": 1e-3}

    def options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--min-scale", type=float, default=1.0,
                            help="smallest spatial scale trained (half the batches are at ×4, the others from here to 4)")
        parser.add_argument("--aligned", type=float, default=0.4, help="fraction of samples that are source frames (t = 0)")

    def model(self, args: argparse.Namespace) -> FlowINR:
        return FlowINR(replace(CONFIGS[args.config], scales=(args.min_scale, 4.0)))

    def batch(self, sources: Sequence[Any], rng: np.random.Generator, size: int, args: argparse.Namespace,
              model: torch.nn.Module, stage: str, validation: bool = False) -> Batch:
        if validation:  # one batch of interpolated frames and one of source frames per source
            return self._validation(sources, rng, size)
        scale = 4.0 if rng.random() < 0.5 else float(rng.uniform(args.min_scale, 4.0))
        return samples(sources, rng, size, args.patch, scale, args.aligned)

    def _validation(self, sources: Sequence[Any], rng: np.random.Generator, size: int) -> Batch:
        moving = samples(sources, rng, size, 48, 4.0, 0.0)
        still = samples(sources, rng, size, 48, 4.0, 1.0)
        return tuple(torch.cat(pair) for pair in zip(moving, still, strict=True))

    def predict(self, model: torch.nn.Module, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        a_t, b_t, t, size = inputs
        return model(a_t, b_t, t, (int(size[0, 0]), int(size[0, 1])))


def samples(sources: Sequence[Any], rng: np.random.Generator, batch: int, lr: int, scale: float, aligned: float
            ) -> Batch:
    """Moved frames a_t, b_t (B, 3, lr, lr), times (B,), the target size (B, 2) and targets (B, 3, HR, HR)."""
    hr = round(lr * scale)
    a_all, b_all, times, targets = [], [], [], []
    for _ in range(batch):
        frames, t = sources[int(rng.integers(len(sources)))].sample(rng, (hr, hr))
        frames, t = augment(rng, frames, t)
        low = degrade(frames, (lr, lr))
        if rng.random() < aligned:
            k = int(rng.integers(2)) * (len(frames) - 1)
            a_t = b_t = low[k:k + 1]
            time_, target = 0.0, frames[k]
        else:
            f01, f10 = flow.pair(low[0], low[-1])
            a_t, b_t = flow.moved(low[:1], low[-1:], f01, f10, float(t[1]))
            time_, target = float(t[1]), frames[1]
        a_all.append(a_t[0])
        b_all.append(b_t[0])
        times.append(time_)
        targets.append(target)
    size = torch.tensor([[hr, hr]] * batch)
    return torch.stack(a_all), torch.stack(b_all), torch.tensor(times), size, torch.stack(targets)


class VideoINRTraining(Recipe):
    """The authors' architecture (``arch.py``), in the paper's two stages: ``--steps`` at a fixed ×4, then
    ``--steps2`` at scales uniform in [1, 4] at half the learning rate. The fixed validation set is at ×4
    with 32×32 inputs; the log's base is bicubic upscaling of both frames, blended at t."""

    name = "videoinr"
    method = "videoinr"
    family = FAMILY
    summary = "VideoINR's own architecture (encoder + SIRENs + learned flows), trained from scratch"
    configs = VIDEOINR_CONFIGS
    default_config = "small"
    defaults = {"steps": 1000, "batch": 4, "patch": 24, "lr": 2e-4, "validate_every": 250, "checkpoint_seconds": 30}
    val_batch = 6

    def options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--steps2", type=int, default=700, help="steps of the second stage (scales in [1, 4])")

    def model(self, args: argparse.Namespace) -> VideoINR:
        return VideoINR(**self.configs[args.config])

    def stages(self, args: argparse.Namespace) -> list[Stage]:
        return [Stage("x4", args.steps, args.lr), Stage("any_scale", args.steps2, args.lr / 2)]

    def batch(self, sources: Sequence[Any], rng: np.random.Generator, size: int, args: argparse.Namespace,
              model: torch.nn.Module, stage: str, validation: bool = False) -> Batch:
        if validation:
            return pairs(sources, rng, size, 32, 4.0)
        scale = 4.0 if stage == "x4" else float(rng.uniform(1.0, 4.0))
        return pairs(sources, rng, size, args.patch, scale)

    def predict(self, model: torch.nn.Module, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        x, t, size = inputs
        assert isinstance(model, VideoINR)
        return model.decode(*model.encode(x), t, (int(size[0, 0]), int(size[0, 1])))

    def base(self, args: argparse.Namespace, inputs: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
        x, t, size = inputs
        pair = F.interpolate(x.flatten(1, 2), size=(int(size[0, 0]), int(size[0, 1])), mode="bicubic", align_corners=False)
        return torch.lerp(pair[:, :3], pair[:, 3:], t.view(-1, 1, 1, 1))


def pairs(sources: Sequence[Any], rng: np.random.Generator, batch: int, lr: int, scale: float) -> Batch:
    """Inputs (B, 2, 3, lr, lr), times (B,), the target size (B, 2) and targets (B, 3, HR, HR)."""
    hr = round(lr * scale)
    inputs, targets, times = [], [], []
    for _ in range(batch):
        frames, t = sources[int(rng.integers(len(sources)))].sample(rng, (hr, hr))
        frames, t = augment(rng, frames, t)
        inputs.append(degrade(frames[[0, -1]], (lr, lr)))
        targets.append(frames[1])
        times.append(t[1])
    return torch.stack(inputs), torch.stack(times), torch.tensor([[hr, hr]] * batch), torch.stack(targets)


class FlowInterpTraining(Recipe):
    """The flow-guided temporal network (``interp.py``): two 8-bit frames of a window and DIS flow between
    them in, the frame at a time t between them as the target. Windows of real clips at strides of 1 to
    the clip's gap, with 1, 3 or 7 frames inside (t = 1/2; 1/4, 1/2, 3/4; k/8), and of synthetic motion of
    photos at t = k/8; half each. The fixed validation set: 96×96 windows, 8 per source, t = 1/2 and k/4."""

    name = "videoinr-interp"
    method = "videoinr"
    family = FAMILY
    summary = "VideoINR's flow-guided temporal network (Interpolate, STVSR's time axis): DIS flow + learned fusion"
    configs = INTERP_CONFIGS
    default_config = "interp"
    defaults = {"steps": 20000, "batch": 8, "patch": 96, "lr": 5e-4}
    val_batches = 2

    def model(self, args: argparse.Namespace) -> FlowInterp:
        return FlowInterp(INTERP_CONFIGS[args.config])

    def batch(self, sources: Sequence[Any], rng: np.random.Generator, size: int, args: argparse.Namespace,
              model: torch.nn.Module, stage: str, validation: bool = False) -> Batch:
        return triplets(sources, rng, size, 96 if validation else args.patch)

    def predict(self, model: torch.nn.Module, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        a, b, f01, f10, t = inputs
        return model(a, b, f01, f10, t)


def triplets(sources: Sequence[Any], rng: np.random.Generator, batch: int, patch: int) -> Batch:
    """Frames a, b (B, 3, p, p) at 8 bits, DIS flows f01, f10 (B, 2, p, p), times (B,; float64) and the
    frames between them at those times (B, 3, p, p)."""
    a_all, b_all, f01_all, f10_all, times, targets = [], [], [], [], [], []
    for _ in range(batch):
        inner = (1, 3, 7)[int(rng.integers(3))]
        frames, t = sources[int(rng.integers(len(sources)))].sample(rng, (patch, patch), inner=inner, uniform=True)
        frames, t = augment(rng, frames, t)
        frames = (frames * 255).round() / 255
        k = int(rng.integers(1, len(frames) - 1))
        f01, f10 = flow.pair(frames[0], frames[-1])
        a_all.append(frames[0])
        b_all.append(frames[-1])
        f01_all.append(f01[0])
        f10_all.append(f10[0])
        times.append(float(t[k]))
        targets.append(frames[k])
    return (torch.stack(a_all), torch.stack(b_all), torch.stack(f01_all), torch.stack(f10_all),
            torch.tensor(times, dtype=torch.float64), torch.stack(targets))


RECIPES = (FlowINRTraining(), FlowInterpTraining(), VideoINRTraining())
