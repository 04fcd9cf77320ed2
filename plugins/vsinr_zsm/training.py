"""How ZSM's architectures are trained (``vsinr train zsm-flow`` and ``vsinr train zsm``): their models,
samples and losses; the entry (``vsinr.training.entry``) does the rest.

Degradations are applied to each input frame on its own, at one random level per window: Gaussian noise
(σ 5–15 of 255) plus 5–15 % salt-and-pepper (``noise``), JPEG at quality 10–40 (``jpeg``), either
(``mixed``, the authors' architecture only) or nothing (``clean``, STVSR only).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vsinr.nn.zsm import CONFIGS as ZSM_CONFIGS
from vsinr.nn.zsm import ZoomingSlowMo
from vsinr.training.data import VimeoSeptuplet, add_noise, augment, degrade, jpeg
from vsinr.training.loop import Stage, charbonnier
from vsinr.training.recipe import Batch, Recipe
from vsinr_zsm.engine import FAMILY
from vsinr_zsm.flowzsm import CONFIGS, FlowZSM, window_inputs


def degraded(frames: torch.Tensor, kind: str, rng: np.random.Generator) -> torch.Tensor:
    """Each frame of (N, 3, H, W) (8-bit values) degraded on its own, at one random level for the window."""
    if kind == "mixed":
        kind = "noise" if rng.random() < 0.5 else "jpeg"
    if kind == "noise":
        return add_noise(frames, rng, float(rng.uniform(5, 15)) / 255, float(rng.uniform(0.05, 0.15)))
    if kind == "jpeg":
        return jpeg(frames, int(rng.integers(10, 41)))
    return frames


class FlowZSMTraining(Recipe):
    """The flow-guided configurations (``flowzsm.py``): ×1 restoration (``--task denoise``) or ×4 ×2
    (``--task stvsr``). A sample is what the engine sees: a window of 2·radius + 1 frames (for STVSR every
    other frame of a window of 4·radius + 1, made small by MATLAB's antialiased bicubic), each degraded,
    prefiltered and turned into slots by ``window_inputs``, the engine's own function; the target is the
    clean centre frame (for STVSR at full size, and in half of the samples the frame halfway to the
    next). Some windows are cut (the frames after a point come from elsewhere, as at an undetected scene
    change) or repeat their first or last frame (the ends of a clip). ``--patch`` is the side of the
    model's input (default 64 for denoise, 48 for stvsr); validation: 4 batches of 8 per source."""

    name = "zsm-flow"
    method = "zsm"
    family = FAMILY
    summary = "ZSM's flow-guided configurations (the default weights): Denoise ×1 or STVSR ×4 ×2"
    configs = CONFIGS
    default_config = ""
    config_help = "default: flow_noise or flow_jpeg (denoise); flow_x4, flow_x4_noise or flow_x4_jpeg (stvsr)"
    defaults = {"steps": 8000, "batch": 8, "patch": 0, "lr": 1e-3}
    val_batches = 4

    def options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--task", choices=("denoise", "stvsr"), default="denoise")
        parser.add_argument("--degradation", choices=("clean", "noise", "jpeg"), required=True)

    def check(self, args: argparse.Namespace) -> str | None:
        if args.task == "denoise" and args.degradation == "clean":
            return "--degradation clean leaves nothing to restore: give noise or jpeg, or --task stvsr"
        if not args.config:
            args.config = f"flow_{args.degradation}" if args.task == "denoise" else \
                "flow_x4" + ("" if args.degradation == "clean" else f"_{args.degradation}")
        if (CONFIGS[args.config].scale > 1) != (args.task == "stvsr"):
            return f"--config {args.config} is a {'×4 ×2' if CONFIGS[args.config].scale > 1 else '×1'} model, not one for --task {args.task}"
        if not args.patch:
            args.patch = 48 if args.task == "stvsr" else 64
        return None

    def model(self, args: argparse.Namespace) -> FlowZSM:
        return FlowZSM(CONFIGS[args.config])

    def stages(self, args: argparse.Namespace) -> list[Stage]:
        return [Stage(args.degradation, args.steps, args.lr)]

    def batch(self, sources: Sequence[Any], rng: np.random.Generator, size: int, args: argparse.Namespace,
              model: torch.nn.Module, stage: str, validation: bool = False) -> Batch:
        assert isinstance(model, FlowZSM)
        patch = (48 if model.scale > 1 else 64) if validation else args.patch
        return flow_windows(sources, rng, size, patch, args.degradation, model)

    def predict(self, model: torch.nn.Module, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        slots, guides, hit, halfway = inputs
        return model(slots, guides, hit, halfway=halfway)


def _window(sources: Sequence[Any], rng: np.random.Generator, count: int, patch: int) -> torch.Tensor:
    frames, times = sources[int(rng.integers(len(sources)))].sample(rng, (patch, patch), inner=count - 2, uniform=True)
    return augment(rng, frames, times)[0]


def flow_windows(sources: Sequence[Any], rng: np.random.Generator, batch: int, patch: int, kind: str,
                 model: FlowZSM) -> Batch:
    """Slots and guides (B, S, 3, p, p), impulse masks (B, 1, p, p), halfway flags (B,) and targets
    (B, 3, scale·p, scale·p)."""
    slots, radius, scale = model.slots, model.radius, model.scale
    # a ×4 ×2 sample is every other frame of twice the window, at full size
    count, side = (2 * slots - 1, scale * patch) if scale > 1 else (slots, patch)
    all_slots, all_guides, all_hits, all_halfway, targets = [], [], [], [], []
    for _ in range(batch):
        clean = (_window(sources, rng, count, side) * 255).round() / 255
        centre, halfway = radius, scale > 1 and rng.random() < 0.5
        if rng.random() < 0.1 and radius >= 1 + halfway:  # a scene cut on one side (never inside a halfway pair)
            other = (_window(sources, rng, count, side) * 255).round() / 255
            at, step = int(rng.integers(1 + halfway, radius + 1)), 2 if scale > 1 else 1  # in model frames
            clean = torch.cat([clean[: step * (radius + at)], other[step * (radius + at):]]) if rng.random() < 0.5 else \
                torch.cat([other[: step * (radius - at) + 1], clean[step * (radius - at) + 1:]])
        if rng.random() < 0.15:  # the first or last frames of a clip: the window repeats its end frame
            centre = int(rng.integers(0, slots - halfway))
        small = degrade(clean[::2], (patch, patch)) if scale > 1 else clean
        prefiltered, guides, hit = model.prepare(degraded(small, kind, rng))
        s, g, h, halfway = window_inputs(prefiltered, guides, hit, centre, radius, halfway)
        all_slots.append(s)
        all_guides.append(g)
        all_hits.append(h)
        all_halfway.append(float(halfway))
        targets.append(clean[2 * centre + halfway] if scale > 1 else clean[centre])
    return (torch.stack(all_slots), torch.stack(all_guides), torch.stack(all_hits), torch.tensor(all_halfway),
            torch.stack(targets))


class ZSMTraining(Recipe):
    """The authors' architecture (``vsinr.nn.zsm``) with a residual base: ×4 ×2 (``--task x4x2``: frames
    1, 3, 5, 7 of a 7-frame window at a quarter of the size in, all 7 frames out, as in the paper) or ×1
    restoration (``--task x1``: 4 consecutive frames in and out). ``--cyclic λ`` adds the guided cyclic
    interpolation loss (the synthesised middle frames, downscaled, are fed back in, and the frames
    interpolated between them must match the ground truth). ``--vimeo`` adds the Vimeo-90K septuplets.
    The log's base is the model's residual base (bicubic + blend of the degraded input, or the input)."""

    name = "zsm"
    method = "zsm"
    family = FAMILY
    summary = "Zooming SlowMo's own architecture (deformable alignment + ConvLSTM), trained from scratch"
    configs = ZSM_CONFIGS
    default_config = "small"
    defaults = {"steps": 2000, "batch": 4, "patch": 0, "lr": 4e-4, "validate_every": 100, "checkpoint_every": 25,
                "checkpoint_seconds": 30}
    val_batch = 6

    def options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--task", default="x4x2", choices=("x4x2", "x1"))
        parser.add_argument("--degradation", default="clean", choices=("clean", "noise", "jpeg", "mixed"))
        parser.add_argument("--cyclic", type=float, default=0.0, help="weight of the guided cyclic interpolation loss")
        parser.add_argument("--vimeo", type=Path,
                            help="a Vimeo-90K septuplet root (sequences/, sep_trainlist.txt)")

    def check(self, args: argparse.Namespace) -> str | None:
        if args.task == "x1" and args.degradation == "clean":
            return "x1 restoration needs a degradation (noise, jpeg or mixed)"
        if args.cyclic and args.task != "x4x2":
            return "the cyclic interpolation loss applies to x4x2 only"
        if not args.patch:
            args.patch = 32 if args.task == "x4x2" else 64
        return None

    def model(self, args: argparse.Namespace) -> ZoomingSlowMo:
        scale, interpolate = (4, True) if args.task == "x4x2" else (1, False)
        # noise: the base starts from 3×3 medians, which remove most impulses before anything is learned
        prefilter = "median3" if args.degradation == "noise" else "none"
        config: dict[str, Any] = dict(self.configs[args.config])
        return ZoomingSlowMo(**config, scale=scale, interpolate=interpolate, residual=True,
                             prefilter=prefilter)

    def stages(self, args: argparse.Namespace) -> list[Stage]:
        return [Stage(f"{args.task}-{args.degradation}", args.steps, args.lr)]

    def sources(self, args: argparse.Namespace, split: str) -> list[Any]:
        found = super().sources(args, split)
        return found + [VimeoSeptuplet(args.vimeo, split)] if args.vimeo else found

    def batch(self, sources: Sequence[Any], rng: np.random.Generator, size: int, args: argparse.Namespace,
              model: torch.nn.Module, stage: str, validation: bool = False) -> Batch:
        inputs, targets = [], []
        for _ in range(size):
            source = sources[int(rng.integers(len(sources)))]
            if args.task == "x4x2":
                frames, times = source.sample(rng, (4 * args.patch, 4 * args.patch), inner=5, uniform=True)
                frames, _ = augment(rng, frames, times)
                small = degrade(frames[0::2], (args.patch, args.patch))
            else:
                frames, times = source.sample(rng, (args.patch, args.patch), inner=2, uniform=True)
                frames, _ = augment(rng, frames, times)
                small = (frames * 255).round() / 255
            inputs.append(degraded(small, args.degradation, rng))
            targets.append(frames)
        return torch.stack(inputs), torch.stack(targets)

    def loss(self, model: torch.nn.Module, inputs: Sequence[torch.Tensor], output: torch.Tensor,
             target: torch.Tensor, args: argparse.Namespace) -> torch.Tensor:
        loss = charbonnier(output, target)
        if args.cyclic:  # frames 1, 3, 5 made again from the synthesised middles must be frames 2 and 4
            middles = output[:, 1::2]
            size = (middles.shape[-2] // 4, middles.shape[-1] // 4)
            small = F.interpolate(middles.flatten(0, 1), size=size, mode="bicubic", antialias=True,
                                  align_corners=False).view(*middles.shape[:2], 3, *size)
            loss = loss + args.cyclic * charbonnier(model(small)[:, 1::2], target[:, 2:5:2])
        return loss

    def base(self, args: argparse.Namespace, inputs: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
        model = self.model(args).to(device)
        return model.base(inputs[0])


RECIPES = (FlowZSMTraining(), ZSMTraining())
