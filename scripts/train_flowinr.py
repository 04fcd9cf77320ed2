"""Train VideoINR's flow-guided configuration (``plugins/vsinr_videoinr/flowinr.py``).

    python scripts/train_flowinr.py --videos DIR --photos DIR --run runs/flowinr [--config flow]
        [--steps 6000] [--batch 8] [--patch 48] [--init W.safetensors] [--export W.safetensors]

A sample is what the engine sees: a pair of low-resolution frames (MATLAB bicubic, 8-bit, as the
evaluation makes them), DIS flow between them, both moved to a time t along it, and the frame at t as the
target; or, in ``--aligned`` of the samples, a source frame itself (t = 0), the case of every
source-aligned output frame of STVSR. Windows come from real clips (``--videos``) and from synthetic
motion of photos (``--photos``), half and half; scales are ×4 in half of the batches and uniform in
[``--min-scale``, 4] otherwise (the range is recorded in the weights' header; outside it the model
gives its base). Charbonnier loss, Adam with cosine decay.

Rerunning the same command resumes from ``RUN/checkpoint.safetensors``; ``--init`` starts a new run from shipped
weights, so training continues where the last one stopped. ``RUN/log.jsonl`` has the loss and the
validation PSNR (model and its fixed base on held-out windows). ``--export`` writes the weights only when
their validation PSNR beats the file already there (measured now, on the same windows), so a shipped
file never gets worse.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from vsinr_videoinr.flowinr import CONFIGS, FlowINR  # noqa: E402

from vsinr.ops import flow  # noqa: E402
from vsinr.runtime import weights
from vsinr.training.data import SyntheticMotion, VideoFolder, augment, degrade  # noqa: E402
from vsinr.training.loop import CHECKPOINT_FILE, Prefetch, Stage, charbonnier, export_if_better, train  # noqa: E402


def make_batch(sources: list, rng: np.random.Generator, batch: int, lr: int, scale: float, aligned: float):
    """Moved frames a_t, b_t (B, 3, lr, lr), times (B,) and targets (B, 3, HR, HR)."""
    hr = round(lr * scale)
    a_all, b_all, times, targets = [], [], [], []
    for _ in range(batch):
        frames, t = sources[rng.integers(len(sources))].sample(rng, (hr, hr))
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
    return torch.stack(a_all), torch.stack(b_all), torch.tensor(times), torch.stack(targets)


def validation_psnr(net: FlowINR, val: list, device: torch.device) -> float:
    """PSNR of the pooled squared error over ``val`` (flat crops would make per-sample PSNR infinite)."""
    errors = []
    with torch.no_grad():
        for a_t, b_t, t, y in val:
            out = net(a_t.to(device), b_t.to(device), t.to(device), tuple(y.shape[-2:])).clamp(0, 1).cpu()
            errors.append(((out - y) ** 2).mean().item())
    return round(10 * math.log10(1 / float(np.mean(errors))), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--config", default="flow", choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=48, help="low-resolution patch side")
    parser.add_argument("--min-scale", type=float, default=1.0,
                        help="smallest spatial scale trained (half the batches are at ×4, the others uniform from here to 4)")
    parser.add_argument("--aligned", type=float, default=0.4, help="fraction of samples that are source frames (t = 0)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--init", type=Path, help="start a new run from these weights (.safetensors)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="processes making batches ahead")
    parser.add_argument("--seconds", type=float, default=0, help="scale the step count so training takes about this long")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--export", type=Path, help="write the weights here if they validate better than the file there")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    device = torch.device(args.device)

    config = {**CONFIGS[args.config], "scales": [args.min_scale, 4.0]}
    model = FlowINR(**config).to(device)
    if args.init and not (args.run / CHECKPOINT_FILE).exists():
        state, _ = weights.read(args.init, "videoinr")
        weights.load_into(model, state, str(args.init))
    train_sources = [VideoFolder(args.videos, "train"), SyntheticMotion(args.photos)]
    val_sources = [VideoFolder(args.videos, "val"), SyntheticMotion(args.photos)]

    # a fixed validation set at ×4, 48×48 inputs: interpolated and source frames from each source
    val_rng = np.random.default_rng(12345)
    val = [make_batch([source], val_rng, 8, 48, 4.0, aligned) for source in val_sources for aligned in (0.0, 1.0)]
    base = validation_psnr(FlowINR(**config).to(device), val, device)  # zero correction: the base

    def validate(net: torch.nn.Module) -> dict[str, float]:
        return {"psnr": validation_psnr(net, val, device), "base": base}

    def batch(stage_name: str, rng: np.random.Generator):
        scale = 4.0 if rng.random() < 0.5 else float(rng.uniform(args.min_scale, 4.0))
        return make_batch(train_sources, rng, args.batch, args.patch, scale, args.aligned)

    batches = Prefetch(batch, args.workers)

    def step(net: torch.nn.Module, stage: Stage, rng: np.random.Generator) -> torch.Tensor:
        a_t, b_t, t, y = (x.to(device, non_blocking=True) for x in batches.get(stage.name, rng))
        return charbonnier(net(a_t, b_t, t, tuple(y.shape[-2:])), y)

    args.run.mkdir(parents=True, exist_ok=True)
    (args.run / "args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=1))
    try:
        train(model, [Stage("any_scale", args.steps, args.lr)], step, validate, args.run,
              seconds=args.seconds, checkpoint_seconds=60, validate_every=500, batch=args.batch)
    finally:
        batches.close()
    if args.export:
        def build(config: dict) -> FlowINR | None:
            return FlowINR(**config).to(device) if config.get("kind") == "flow" else None

        export_if_better(model, args.export, "videoinr", build, lambda net: validation_psnr(net, val, device),
                         note=f", base {base}")


if __name__ == "__main__":
    main()
