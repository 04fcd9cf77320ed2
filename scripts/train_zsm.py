"""Train Zooming SlowMo weights: clean or restoring ×4 ×2 space-time SR, or ×1 restoration.

    python scripts/train_zsm.py --videos DIR --photos DIR --run runs/zsm_x4x2 [--task x4x2]
        [--degradation clean|noise|jpeg|mixed] [--config small] [--steps 2000] [--init W.safetensors]
        [--cyclic 0.1] [--vimeo VIMEO_SEPTUPLET_ROOT] [--export W.safetensors]

Data: 7-frame windows of real clips (every video under --videos, and the Vimeo-90K septuplets under
--vimeo when given) and synthetic motion made from the photos under --photos, mixed evenly.
- ``x4x2``: the inputs are frames 1, 3, 5, 7 of the window at a quarter of the size (MATLAB bicubic,
  8-bit) and the targets all 7 frames, as in the paper.
- ``x1``: 4 consecutive frames are both the inputs (degraded) and the targets.
Degradations are applied to the inputs after downscaling: Gaussian noise (σ 5–15 of 255) plus
5–15 % salt-and-pepper (``noise``), JPEG at quality 10–40 (``jpeg``), or either (``mixed``).
Charbonnier loss; ``--cyclic λ`` adds the guided cyclic interpolation loss (the synthesised middle
frames, downscaled, are fed back in, and the frames the network interpolates between them must match
the ground truth at the original instants). Rerunning the same command resumes from
``RUN/checkpoint.safetensors``; ``RUN/log.jsonl`` has the loss and validation PSNR of the model and of its
residual base (bicubic + blend of the degraded input, or the degraded input itself at ×1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from vsinr.evaluation.metrics import psnr
from vsinr.nn.zsm import CONFIGS, ZoomingSlowMo
from vsinr.runtime import weights
from vsinr.training.data import SyntheticMotion, VideoFolder, VimeoSeptuplet, add_noise, augment, degrade, jpeg
from vsinr.training.loop import Prefetch, Stage, charbonnier, train


def degrade_inputs(frames: torch.Tensor, kind: str, rng: np.random.Generator) -> torch.Tensor:
    """Apply a random degradation of ``kind`` to (N, 3, H, W) input frames already at 8 bits."""
    if kind == "mixed":
        kind = "noise" if rng.random() < 0.5 else "jpeg"
    if kind == "noise":
        return add_noise(frames, rng, float(rng.uniform(5, 15)) / 255, float(rng.uniform(0.05, 0.15)))
    if kind == "jpeg":
        return jpeg(frames, int(rng.integers(10, 41)))
    return frames


def make_batch(sources: list, rng: np.random.Generator, batch: int, patch: int, task: str, kind: str):
    """Inputs (B, N, 3, p, p) and targets (B, T, 3, P, P)."""
    inputs, targets = [], []
    for _ in range(batch):
        source = sources[rng.integers(len(sources))]
        if task == "x4x2":
            frames, times = source.sample(rng, (4 * patch, 4 * patch), inner=5, uniform=True)
            frames, _ = augment(rng, frames, times)
            small = degrade(frames[0::2], (patch, patch))
        else:
            frames, times = source.sample(rng, (patch, patch), inner=2, uniform=True)
            frames, _ = augment(rng, frames, times)
            small = (frames * 255).round() / 255
        inputs.append(degrade_inputs(small, kind, rng))
        targets.append(frames)
    return torch.stack(inputs), torch.stack(targets)


def cyclic_loss(net: ZoomingSlowMo, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The synthesised frames 1, 3, 5 are downscaled and interpolated again; the frames between them
    must be frames 2 and 4 of the ground truth."""
    middles = out[:, 1::2]
    size = (middles.shape[-2] // 4, middles.shape[-1] // 4)
    small = torch.nn.functional.interpolate(middles.flatten(0, 1), size=size, mode="bicubic", antialias=True,
                                            align_corners=False).view(*middles.shape[:2], 3, *size)
    again = net(small)
    return charbonnier(again[:, 1::2], target[:, 2:5:2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--vimeo", type=Path, help="a Vimeo-90K septuplet root (sequences/, sep_trainlist.txt)")
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--task", default="x4x2", choices=("x4x2", "x1"))
    parser.add_argument("--degradation", default="clean", choices=("clean", "noise", "jpeg", "mixed"))
    parser.add_argument("--config", default="small", choices=sorted(CONFIGS))
    parser.add_argument("--init", type=Path, help="start from these weights (fine-tuning): a .safetensors of zsm weights")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--patch", type=int, default=0, help="input patch side (default 32 at x4x2, 64 at x1)")
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--cyclic", type=float, default=0.0, help="weight of the guided cyclic interpolation loss")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="processes making batches ahead (keeps a GPU busy)")
    parser.add_argument("--seconds", type=float, default=0, help="scale --steps so training takes about this long")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--export", type=Path, help="write the trained weights here (half-precision safetensors)")
    args = parser.parse_args()
    if args.task == "x1" and args.degradation == "clean":
        parser.error("x1 restoration needs a degradation (noise, jpeg or mixed)")
    if args.cyclic and args.task != "x4x2":
        parser.error("the cyclic interpolation loss applies to x4x2 only")
    if args.threads:
        torch.set_num_threads(args.threads)
    # batch shapes repeat, so let cuDNN pick and cache its fastest algorithms (a profile on an H100
    # showed milliseconds of host time per cuDNN convolution call; not yet re-measured with this on)
    torch.backends.cudnn.benchmark = True
    patch = args.patch or (32 if args.task == "x4x2" else 64)
    device = torch.device(args.device)

    scale, interpolate = (4, True) if args.task == "x4x2" else (1, False)
    # noise: the base starts from 3×3 medians, which remove most impulses before anything is learned
    prefilter = "median3" if args.degradation == "noise" else "none"
    model = ZoomingSlowMo(**CONFIGS[args.config], scale=scale, interpolate=interpolate, residual=True,
                          prefilter=prefilter)
    if args.init:  # any weights of the same layers and shapes (e.g. the clean model for a restoring one)
        state, _ = weights.read(args.init, "zsm")
        weights.load_into(model, state, str(args.init))
    model.to(device)

    sources = [VideoFolder(args.videos, "train"), SyntheticMotion(args.photos)]
    val_sources = [VideoFolder(args.videos, "val"), SyntheticMotion(args.photos)]
    if args.vimeo:
        sources.append(VimeoSeptuplet(args.vimeo, "train"))
        val_sources.append(VimeoSeptuplet(args.vimeo, "val"))
    val_rng = np.random.default_rng(12345)
    val = [make_batch([s], val_rng, 6, patch, args.task, args.degradation) for s in val_sources]

    def scores(frames: torch.Tensor, target: torch.Tensor) -> list[float]:
        pairs = zip(frames.clamp(0, 1).flatten(0, 1), target.flatten(0, 1), strict=True)
        return [psnr(a.cpu().numpy(), b.numpy()) for a, b in pairs]

    base = round(float(np.mean([p for x, y in val for p in scores(model.base(x), y)])), 3)

    def validate(net: torch.nn.Module) -> dict[str, float]:
        got = [p for x, y in val for p in scores(net(x.to(device)), y)]
        return {"psnr": round(float(np.mean(got)), 3), "base": base}

    batches = Prefetch(lambda _, rng: make_batch(sources, rng, args.batch, patch, args.task, args.degradation),
                       args.workers)

    def step(net: torch.nn.Module, stage: Stage, rng: np.random.Generator) -> torch.Tensor:
        x, y = (a.to(device, non_blocking=True) for a in batches.get(stage.name, rng))
        out = net(x)
        loss = charbonnier(out, y)
        if args.cyclic:
            loss = loss + args.cyclic * cyclic_loss(net, out, y)
        return loss

    args.run.mkdir(parents=True, exist_ok=True)
    (args.run / "args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=1))
    try:
        train(model, [Stage(f"{args.task}-{args.degradation}", args.steps, args.lr)], step, validate, args.run,
              validate_every=100, checkpoint_every=25, seconds=args.seconds,
              checkpoint_seconds=30)
    finally:
        batches.close()
    if args.export:
        weights.save(args.export, model.state_dict(), "zsm", model.config, half=True)
        print(f"wrote {args.export}", file=sys.stderr)


if __name__ == "__main__":
    main()
