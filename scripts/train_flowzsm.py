"""Train ZSM's flow-guided configurations (``plugins/vsinr_zsm/flowzsm.py``): ×1 restoration (Denoise)
or ×4 ×2 space-time super-resolution (STVSR).

    python scripts/train_flowzsm.py --videos DIR --photos DIR --run runs/flowzsm_noise --degradation noise
        [--task denoise|stvsr] [--config flow_noise] [--steps 8000] [--batch 8] [--patch 64]
        [--init W.safetensors] [--export W.safetensors]

A sample is what the engine sees: a window of 2·radius + 1 frames (8-bit; for STVSR every other frame
of a window of 4·radius + 1, made small by MATLAB's antialiased bicubic as the evaluation does), each
degraded on its own — Gaussian noise (σ 5–15 of 255) plus 5–15 % salt-and-pepper (``noise``), JPEG at
quality 10–40 (``jpeg``) or nothing (``clean``, STVSR only) — prefiltered, and turned into slots by
``window_inputs``, the engine's own function; the target is the clean centre frame (for STVSR, at full
size, and in half of the samples the frame halfway to the next). Some windows are cut (the frames after
a point come from elsewhere, as at an undetected scene change) or repeat their first or last frame (the
ends of a clip). Windows come from real clips (``--videos``) and from synthetic motion of photos
(``--photos``), half and half. Charbonnier loss, Adam with cosine decay. ``--patch`` is the side of the
model's input (for STVSR the target is 4 times larger).

Rerunning the same command resumes from ``RUN/checkpoint.safetensors``; ``--init`` starts a new run from shipped
weights. ``RUN/log.jsonl`` has the loss and the validation PSNR (model and its fixed base on held-out
windows). ``--export`` writes the weights only when their validation PSNR beats the file already there
(measured now, on the same windows), so a shipped file never gets worse.
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

from vsinr_zsm.flowzsm import CONFIGS, FlowZSM, window_inputs  # noqa: E402

from vsinr.runtime import weights  # noqa: E402
from vsinr.training.data import SyntheticMotion, VideoFolder, add_noise, augment, degrade, jpeg  # noqa: E402
from vsinr.training.loop import CHECKPOINT_FILE, Prefetch, Stage, charbonnier, export_if_better, train  # noqa: E402


def degraded(frames: torch.Tensor, kind: str, rng: np.random.Generator) -> torch.Tensor:
    """Each frame of (N, 3, H, W) degraded on its own, at one random level for the window."""
    if kind == "noise":
        return add_noise(frames, rng, float(rng.uniform(5, 15)) / 255, float(rng.uniform(0.05, 0.15)))
    if kind == "jpeg":
        return jpeg(frames, int(rng.integers(10, 41)))
    return frames


def window(sources: list, rng: np.random.Generator, count: int, patch: int) -> torch.Tensor:
    frames, times = sources[rng.integers(len(sources))].sample(rng, (patch, patch), inner=count - 2, uniform=True)
    return augment(rng, frames, times)[0]


def make_batch(sources: list, rng: np.random.Generator, batch: int, patch: int, kind: str, model: FlowZSM):
    """Slots and guides (B, S, 3, p, p), impulse masks (B, 1, p, p), halfway flags (B,) and targets
    (B, 3, scale·p, scale·p)."""
    slots, radius, scale = model.slots, model.radius, model.scale
    # a ×4 ×2 sample is every other frame of twice the window, at full size
    count, side = (2 * slots - 1, scale * patch) if scale > 1 else (slots, patch)
    all_slots, all_guides, all_hits, all_halfway, targets = [], [], [], [], []
    for _ in range(batch):
        clean = (window(sources, rng, count, side) * 255).round() / 255
        centre, halfway = radius, scale > 1 and rng.random() < 0.5
        if rng.random() < 0.1 and radius >= 1 + halfway:  # a scene cut on one side (never inside a halfway pair)
            other = (window(sources, rng, count, side) * 255).round() / 255
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


def validation_psnr(net: FlowZSM, val: list, device: torch.device) -> float:
    """PSNR of the pooled squared error over ``val`` (flat crops would make per-sample PSNR infinite)."""
    errors = []
    with torch.no_grad():
        for slots, guides, hit, halfway, y in val:
            out = net(slots.to(device), guides.to(device), hit.to(device), halfway=halfway.to(device)).clamp(0, 1).cpu()
            errors.append(((out - y) ** 2).mean().item())
    return round(10 * math.log10(1 / float(np.mean(errors))), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--task", choices=("denoise", "stvsr"), default="denoise")
    parser.add_argument("--degradation", choices=("clean", "noise", "jpeg"), required=True)
    parser.add_argument("--config", choices=sorted(CONFIGS),
                        help="default: flow_noise or flow_jpeg (denoise); flow_x4, flow_x4_noise or flow_x4_jpeg (stvsr)")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=0, help="input side (default: 64 for denoise, 48 for stvsr)")
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
    device = torch.device(args.device)

    if args.task == "denoise" and args.degradation == "clean":
        parser.error("--degradation clean leaves nothing to restore: give noise or jpeg, or --task stvsr")
    default = f"flow_{args.degradation}" if args.task == "denoise" else \
        "flow_x4" + ("" if args.degradation == "clean" else f"_{args.degradation}")
    config = CONFIGS[args.config or default]
    model = FlowZSM(**config)
    if (model.scale > 1) != (args.task == "stvsr"):
        parser.error(f"--config {args.config} is a {'×4 ×2' if model.scale > 1 else '×1'} model, not one for --task {args.task}")
    patch = args.patch or (48 if model.scale > 1 else 64)
    if args.init and not (args.run / CHECKPOINT_FILE).exists():
        state, _ = weights.read(args.init, "zsm")
        weights.load_into(model, state, str(args.init))
    model.to(device)
    train_sources = [VideoFolder(args.videos, "train"), SyntheticMotion(args.photos)]
    val_sources = [VideoFolder(args.videos, "val"), SyntheticMotion(args.photos)]

    # a fixed validation set: 4 batches of 8 windows from each source, 64×64 inputs (48×48 for STVSR)
    val_rng = np.random.default_rng(12345)
    val_patch = 48 if model.scale > 1 else 64
    val = [make_batch([source], val_rng, 8, val_patch, args.degradation, model) for source in val_sources for _ in range(4)]
    base = validation_psnr(FlowZSM(**config).to(device), val, device)  # zero correction: the base

    def validate(net: torch.nn.Module) -> dict[str, float]:
        return {"psnr": validation_psnr(net, val, device), "base": base}

    def batch(stage_name: str, rng: np.random.Generator):
        return make_batch(train_sources, rng, args.batch, patch, args.degradation, model)

    batches = Prefetch(batch, args.workers)

    def step(net: torch.nn.Module, stage: Stage, rng: np.random.Generator) -> torch.Tensor:
        slots, guides, hit, halfway, y = (x.to(device, non_blocking=True) for x in batches.get(stage.name, rng))
        return charbonnier(net(slots, guides, hit, halfway=halfway), y)

    args.run.mkdir(parents=True, exist_ok=True)
    (args.run / "args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=1))
    try:
        train(model, [Stage(args.degradation, args.steps, args.lr)], step, validate, args.run,
              seconds=args.seconds, checkpoint_seconds=60, validate_every=500, batch=args.batch)
    finally:
        batches.close()
    if args.export:
        def build(config: dict) -> FlowZSM | None:
            return FlowZSM(**config).to(device) if config.get("kind") == "flow" else None

        export_if_better(model, args.export, "zsm", build, lambda net: validation_psnr(net, val, device),
                         note=f", base {base}")


if __name__ == "__main__":
    main()
