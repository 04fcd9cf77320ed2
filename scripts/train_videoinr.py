"""Train the authors' VideoINR architecture (``arch.py``) on your own material; the default weights are
the flow-guided configuration, trained by ``train_flowinr.py``.

    python scripts/train_videoinr.py --videos DIR --photos DIR --run runs/videoinr [--config small]
        [--steps1 1000 --steps2 700] [--export videoinr_small.safetensors]

Data: windows of real clips (every video under --videos, decoded with PyAV) and synthetic motion made
from the photos under --photos, half and half. The paper's two stages: a fixed ×4 spatial scale, then a
random scale in [1, 4] per batch; times in (0, 1) at random (the clips' own inner frames for videos).
Inputs are made the way the evaluation makes them (MATLAB bicubic, 8-bit). Charbonnier loss, Adam with
cosine decay per stage. Rerunning the same command resumes from ``RUN/checkpoint.safetensors``; ``RUN/log.jsonl``
has the loss and the validation PSNR (model and bicubic + blend on held-out windows).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from vsinr_videoinr.arch import CONFIGS, VideoINR  # noqa: E402

from vsinr.evaluation.metrics import psnr  # noqa: E402
from vsinr.runtime import weights  # noqa: E402
from vsinr.training.data import SyntheticMotion, VideoFolder, augment, degrade  # noqa: E402
from vsinr.training.loop import Prefetch, Stage, charbonnier, train  # noqa: E402


def make_batch(sources: list, rng: np.random.Generator, batch: int, lr: int, scale: float):
    """Inputs (B, 2, 3, lr, lr), targets (B, 3, HR, HR) and times (B,) for one spatial scale."""
    hr = round(lr * scale)
    inputs, targets, times = [], [], []
    for _ in range(batch):
        frames, t = sources[rng.integers(len(sources))].sample(rng, (hr, hr))
        frames, t = augment(rng, frames, t)
        inputs.append(degrade(frames[[0, -1]], (lr, lr)))
        targets.append(frames[1])
        times.append(t[1])
    return torch.stack(inputs), torch.stack(targets), torch.stack(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--config", default="small", choices=sorted(CONFIGS))
    parser.add_argument("--steps1", type=int, default=1000, help="stage 1 steps (fixed ×4)")
    parser.add_argument("--steps2", type=int, default=700, help="stage 2 steps (scales in [1, 4])")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--patch", type=int, default=24, help="low-resolution patch side (multiple of 4)")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="processes making batches ahead (keeps a GPU busy)")
    parser.add_argument("--seconds", type=float, default=0,
                        help="scale both stages' step counts so training takes about this long")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--export", type=Path, help="write the trained weights here (half-precision safetensors)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # batch shapes repeat, so let cuDNN pick and cache its fastest algorithms (a profile on an H100
    # showed milliseconds of host time per cuDNN convolution call; not yet re-measured with this on)
    torch.backends.cudnn.benchmark = True
    device = torch.device(args.device)

    config = CONFIGS[args.config]
    model = VideoINR(**config).to(device)
    train_sources = [VideoFolder(args.videos, "train"), SyntheticMotion(args.photos)]
    val_sources = [VideoFolder(args.videos, "val"), SyntheticMotion(args.photos)]

    # a fixed validation set at ×4, 32×32 inputs
    val_rng = np.random.default_rng(12345)
    val = [make_batch([source], val_rng, 6, 32, 4.0) for source in val_sources]

    def blend_psnr(x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> list[float]:
        """PSNR of the bicubic + blend base (what a residual model starts from)."""
        pair = torch.nn.functional.interpolate(x.flatten(1, 2), size=y.shape[-2:], mode="bicubic", align_corners=False)
        blend = torch.lerp(pair[:, :3], pair[:, 3:], t.view(-1, 1, 1, 1)).clamp(0, 1)
        return [psnr(b.numpy(), target.numpy()) for b, target in zip(blend, y, strict=True)]

    base = round(float(np.mean([p for x, y, t in val for p in blend_psnr(x, y, t)])), 3)

    def validate(net: torch.nn.Module) -> dict[str, float]:
        scores = []
        for x, y, t in val:
            out = net.decode(*net.encode(x.to(device)), t.to(device), y.shape[-2:]).clamp(0, 1).cpu()
            scores += [psnr(o.numpy(), target.numpy()) for o, target in zip(out, y, strict=True)]
        return {"psnr": round(float(np.mean(scores)), 3), "bicubic_blend": base}

    def batch(stage_name: str, rng: np.random.Generator):
        scale = 4.0 if stage_name == "x4" else float(rng.uniform(1.0, 4.0))
        return make_batch(train_sources, rng, args.batch, args.patch, scale)

    batches = Prefetch(batch, args.workers)

    def step(net: torch.nn.Module, stage: Stage, rng: np.random.Generator) -> torch.Tensor:
        x, y, t = (a.to(device, non_blocking=True) for a in batches.get(stage.name, rng))
        return charbonnier(net.decode(*net.encode(x), t, y.shape[-2:]), y)

    stages = [Stage("x4", args.steps1, args.lr), Stage("any_scale", args.steps2, args.lr / 2)]
    (args.run).mkdir(parents=True, exist_ok=True)
    (args.run / "args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=1))
    try:
        train(model, stages, step, validate, args.run, seconds=args.seconds, checkpoint_seconds=30)
    finally:
        batches.close()
    if args.export:
        weights.save(args.export, model.state_dict(), "videoinr", model.config, half=True)
        print(f"wrote {args.export}", file=sys.stderr)


if __name__ == "__main__":
    main()
