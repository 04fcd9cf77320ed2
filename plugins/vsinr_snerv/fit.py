"""Fitting SNeRV-B to one clip: the paper's loss, Adam with warm-up and a cosine schedule, optional masks.

The loss of a frame is the sum, with equal weights, of 0.7·L1 + 0.3·(1 - SSIM) on the frame, on its
normalised LL band and on its high bands. With a mask (in-painting) what lies in a hole never reaches
the loss or the representation. Holes are first filled classically from known pixels (a temporal
median, else Laplace interpolation: ``vsinr.ops.holes``); the encoder sees that frame, and inside holes the
fill is the target at a weight of ``HOLE_WEIGHT`` (known pixels: 1). The band terms use the weights
pooled to 2×2 blocks by their minimum (a band value counts fully only if its four pixels are known).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from vsinr.ops.holes import temporal_fill
from vsinr.runtime import fitting, optim
from vsinr.runtime.fitting import FitError, check_finite
from vsinr_snerv.model import Config, SNeRV, normalise, sized

HOLE_WEIGHT = 0.1  # in-painting: the weight of the classical fill as the target inside holes


@dataclass(frozen=True, kw_only=True)
class Schedule:
    epochs: int = 300
    lr: float = 1e-3
    warmup: float = 0.1  # share of the steps with a linear warm-up from 0.1·lr
    clip: float = 1.0  # gradient-norm clipping

    def rate(self, step: int, total: int) -> float:
        """The learning-rate multiplier at ``step`` of ``total``: warm-up from 0.1, then a cosine to 0."""
        t = step / max(1, total)
        if t < self.warmup:
            return 0.1 + 0.9 * t / self.warmup
        return 0.5 * (1 + math.cos(math.pi * (t - self.warmup) / (1 - self.warmup)))


def _window(size: int, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM (data range 1, Gaussian window 11 and σ 1.5, no padding) of (N, C, H, W) images, per window."""
    size = min(11, a.shape[-1], a.shape[-2])
    size -= 1 - size % 2  # odd
    g = _window(size).to(a)
    channels = a.shape[1]

    def blur(x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, g.view(1, 1, 1, -1).expand(channels, 1, 1, size), groups=channels)
        return F.conv2d(x, g.view(1, 1, -1, 1).expand(channels, 1, size, 1), groups=channels)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    return ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))


def fusion(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """0.7·L1 + 0.3·(1 - SSIM) of (N, C, H, W) tensors; with ``weight`` (N, 1, H, W) in [0, 1], both
    images are scaled by it first (as HNeRV's in-painting zeroes unknown pixels), so a pixel counts
    as much as its weight."""
    if weight is not None:
        pred, target = pred * weight, target * weight
    return 0.7 * (pred - target).abs().mean() + 0.3 * (1 - ssim_map(pred, target).mean())


def pad(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Frames padded at the bottom and right to ``size`` by repeating their last row and column."""
    dh, dw = size[0] - frames.shape[-2], size[1] - frames.shape[-1]
    if dh == 0 and dw == 0:
        return frames
    return F.pad(frames, (0, dw, 0, dh), mode="replicate")


def filled(frames: torch.Tensor, known: torch.Tensor | None) -> torch.Tensor:
    """Frames whose unknown pixels (``known`` = 0) hold a classical guess made from known pixels only
    (``vsinr.ops.holes.temporal_fill``: what nearby frames saw there, else Laplace interpolation)."""
    if known is None:
        return frames
    holes = (known[:, 0] == 0).cpu().numpy()
    guess = torch.from_numpy(temporal_fill(frames.cpu().numpy(), holes)).to(frames)
    return frames * known + guess * (1 - known)


def fit(model: SNeRV, frames: torch.Tensor, schedule: Schedule, device: str, seed: int,
        known: torch.Tensor | None = None, log: Callable[[str], None] = lambda text: None,
        frame_loss: Callable[[int, float], None] | None = None, keep: dict[str, torch.Tensor] | None = None,
        checkpoint: Path | None = None) -> None:
    """Fit ``model`` in place to ``frames`` (T, 3, H, W) in [0, 1], one frame per step, ``schedule.epochs``
    passes. ``known`` (T, 1, H, W), 1 where a pixel is known, masks the loss (in-painting). ``keep``
    holds 0/1 masks of pruned parameters (by name), which stay zero.

    With a ``checkpoint`` path, the model, Adam's moments and the shuffling state are saved there
    (atomically) at every progress report and at the end; a later call with the same arguments resumes
    from it and ends with the very weights an uninterrupted fit gives. The caller removes it when done.
    """
    dev = torch.device(device)
    check_finite(frames)
    config = model.config
    frames = pad(filled(frames.float(), known), config.padded)
    known = None if known is None else pad(known.float(), config.padded)
    # Inside holes the classical fill is a weak target: nothing else constrains the output there, and
    # without it the decoder drifts (measured: 1.5-5.7 dB below the fill in static holes).
    weights = None if known is None else known + HOLE_WEIGHT * (1 - known)
    model.to(dev)

    def step(index: int, generator: torch.Generator) -> tuple[torch.Tensor, float]:
        frame = frames[index : index + 1].to(dev)
        weight = None if weights is None else weights[index : index + 1].to(dev)
        seen = None if known is None else known[index : index + 1].to(dev)
        low, high, norms = model.analyse(frame)
        out, unit, high_hat = model.decode(model.embed(low, norms), norms)
        band_weight = None if weight is None else -F.max_pool2d(-weight, 2)
        loss = (fusion(out, frame, weight) + fusion(unit, normalise(low, norms), band_weight)
                + fusion(high_hat.flatten(1, 2), high.flatten(1, 2), band_weight))
        with torch.no_grad():
            error = (out - frame) ** 2
            mse = float((error * seen).sum() / (3 * seen.sum()).clamp(min=1)) if seen is not None else float(error.mean())
        if frame_loss is not None:
            frame_loss(index, loss.item())
        return loss, mse

    def hold_pruned() -> None:
        assert keep is not None  # only called when there are masks to hold
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name in keep:
                    parameter.mul_(keep[name].to(parameter.device))

    optimise(model, len(frames), step, schedule, seed, _fit_tag(model, frames, weights, schedule, seed, keep), log,
             checkpoint, after_step=hold_pruned if keep else None)


def optimise(model: torch.nn.Module, count: int, step: Callable[[int, torch.Generator], tuple[torch.Tensor, float]],
             schedule: Schedule, seed: int, tag: str, log: Callable[[str], None], checkpoint: Path | None,
             after_step: Callable[[], None] | None = None) -> list[float]:
    """The epochs SNeRV-B and -T share: ``schedule.epochs`` passes over ``count`` frames in an order
    shuffled by a generator seeded with ``seed``, one frame per step of a ``vsinr.runtime.optim.Run`` (Adam at the
    schedule's learning rate, gradient clipping, the non-finite guard, checkpoints at every progress
    report). ``step(index, generator)`` gives the loss of frame ``index`` and its squared error (for the
    PSNR in the reports). Returns the mean loss of each epoch it ran."""
    model.train()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=schedule.lr)
    total = schedule.epochs * count
    run = optim.Run(model, optimizer, total, lambda done: schedule.lr * schedule.rate(done, total), clip=schedule.clip,
                    generator=generator, checkpoint=checkpoint, tag=tag, log=log, after_step=after_step)
    first = run.resume() // count  # checkpoints are written at the ends of epochs
    losses: list[float] = []
    report = max(1, schedule.epochs // 10)
    for epoch in range(first, schedule.epochs):
        squared = summed = 0.0
        for index in torch.randperm(count, generator=generator).tolist():
            loss, mse = step(index, generator)
            try:
                run.step(loss)
            except optim.Diverged as exc:
                raise FitError(f"fitting diverged at epoch {epoch + 1} ({exc}); lower the learning rate") from None
            summed += loss.item()
            squared += mse
        losses.append(summed / count)
        if (epoch + 1) % report == 0 or epoch + 1 == schedule.epochs:
            run.save()
            psnr = -10 * math.log10(max(squared / count, 1e-12))
            log(f"epoch {epoch + 1}/{schedule.epochs}, loss {losses[-1]:.4f}, PSNR {psnr:.2f} dB, {run.progress()}")
    model.eval()
    return losses


def _fit_tag(model: SNeRV, frames: torch.Tensor, weights: torch.Tensor | None, schedule: Schedule, seed: int,
             keep: dict[str, torch.Tensor] | None) -> str:
    """What a checkpoint must match to be resumed: the frames, mask, model, schedule, seed and pruning."""
    settings = [model.config.to_json(), asdict(schedule), seed, sorted(keep or {})]
    return optim.checkpoint_tag(settings, frames, weights, *(keep or {}).values())


@torch.no_grad()
def prune(model: SNeRV, share: float = 0.1) -> dict[str, torch.Tensor]:
    """Zero the ``share`` of the decoder's and head's weights (not biases) smallest in magnitude, over all
    of them at once; returns the masks for a fine-tune that keeps them zero."""
    weights = {name: p for name, p in model.named_parameters() if not name.startswith("encoder.") and p.dim() > 1}
    magnitudes = torch.cat([p.abs().flatten() for p in weights.values()])
    cut = magnitudes.kthvalue(max(1, int(share * len(magnitudes)))).values
    masks = {name: (p.abs() > cut).float() for name, p in weights.items()}
    for name, p in weights.items():
        p.mul_(masks[name])
    return masks


@torch.no_grad()
def representation(model: SNeRV, frames: torch.Tensor, known: torch.Tensor | None = None
                   ) -> dict[str, torch.Tensor]:
    """What a fitted clip is stored as: decoder and LL-head weights, embeddings (T, 16, h, w) and
    [min, max] (T, 2); the encoder is left out (it is only needed to fit)."""
    device = next(model.parameters()).device
    frames = pad(filled(frames.float(), known), model.config.padded)
    embeddings, norms = [], []
    for frame in frames:
        low, _, norm = model.analyse(frame[None].to(device))
        embeddings.append(model.embed(low, norm).cpu())
        norms.append(norm.cpu())
    state = {k: v.detach().cpu() for k, v in model.state_dict().items() if not k.startswith("encoder.")}
    return state | {"embeddings": torch.cat(embeddings), "norms": torch.cat(norms)}


def decoder_from(state: dict[str, torch.Tensor], model: SNeRV) -> SNeRV:
    """``model`` with the decoder and head of a stored representation (the encoder stays as built)."""
    wanted = {k: v for k, v in state.items() if k not in ("embeddings", "norms")}
    missing, unexpected = model.load_state_dict(wanted, strict=False)
    if unexpected or any(not k.startswith("encoder.") for k in missing):
        raise FitError(f"the stored representation does not fit this model (missing {missing[:3]}, "
                       f"unexpected {unexpected[:3]})")
    return model.eval()


@torch.no_grad()
def render(model: SNeRV, state: dict[str, torch.Tensor], index: int) -> torch.Tensor:
    """Frame ``index`` (3, H, W) of a stored representation, cropped to the clip's size, unclamped."""
    device = next(model.parameters()).device
    embedding = state["embeddings"][index : index + 1].to(device)
    norms = state["norms"][index : index + 1].to(device)
    out, _, _ = model.decode(embedding, norms)
    height, width = model.config.size
    return out[0, :, :height, :width]


def fit_clip(frames: torch.Tensor, *, size: str | float, epochs: int, prune_share: float = 0.0, finetune: int = 0,
             device: str = "cpu", seed: int = 1, log: Callable[[str], None] = lambda text: None,
             known: torch.Tensor | None = None, checkpoint: Path | None = None,
             ) -> tuple[dict[str, torch.Tensor], Config]:
    """The fitted (unquantised) representation of ``frames`` and its configuration.

    ``known`` (T, 1, H, W) masks the fit (in-painting); ``checkpoint`` (a ``.safetensors`` path) makes it
    resumable (``fit.fit``), and is removed once the representation is made."""
    count, _, height, width = frames.shape
    config = sized(height, width, count, size)
    with fitting.seeded(seed):
        model = SNeRV(config)
    log(f"SNeRV-B fc_dim {config.fc_dim}, strides {config.strides}, embeddings {config.embed_size}, {count} frames")
    stages = [checkpoint]
    fit(model, frames, Schedule(epochs=epochs), device, seed, known=known, log=log, checkpoint=checkpoint)
    if prune_share > 0:
        keep = prune(model, prune_share)
        if finetune > 0:
            stages.append(None if checkpoint is None else checkpoint.with_suffix(".finetune.safetensors"))
            fit(model, frames, Schedule(epochs=finetune, lr=1e-4, warmup=0.0), device, seed + 1, known=known, log=log,
                keep=keep, checkpoint=stages[-1])
    state = representation(model.cpu(), frames, known)
    for path in stages:
        if path is not None:
            path.unlink(missing_ok=True)
    return state, config
