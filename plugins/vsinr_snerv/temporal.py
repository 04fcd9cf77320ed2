"""SNeRV-T: SNeRV with temporal embeddings of the neighbouring frames, fitted per clip to interpolate frames.

Architecture as in the facts sheet §4 (our own code): the main ConvNeXt encoder gives a frame's 16-channel
embedding; two separate ConvNeXt encoders (widths 64…64, 3) give 3-channel embeddings of the "previous" and
the "next" stream; a shared decoder (Conv1×1, GELU, transposed convs with kernel = stride) brings those to
the resolution of up-block 1's output. Up-blocks 0 and 1 are 2D blocks, 2 to 4 are temporal up-sampling
blocks (full Conv3d 3×3×3 on the stacked [prev, cur, next]; the last reduces T 3→1), then the fusion unit,
the LL head and the three high-band heads of SNeRV-B, and the inverse Haar transform.

Interpolation convention (ours; the official code instead runs the main encoder on the real unseen frame,
which interpolation does not have):
- The clip's frames are the observed frames. A time t+s between frames t and t+1 (0 < s < 1) starts from a
  motion-compensated base: the two frames moved along the optical flow between them to time s and
  blended (1-s, s) (``vsinr.ops.flow.between``; DIS flow, no learned weights). The main encoder sees the
  base's LL, the previous stream encodes frame t and the next stream frame t+1, and the decoder adds a
  correction to the base's bands (LL and high): the output is base + what the network learned the
  flow gets wrong in this clip (occlusions, blending ghosts, flow errors). The correction starts at
  zero (its last layers are zero-initialised), so an untrained model renders the base.
- Fitting teaches it on the clip's own triplets: with probability ``hold`` per step, an inner frame t is
  "held out", its base made from frames t-1 and t+1 at s = 1/2 (flow between them), streams t-1 and
  t+1, and the loss is against the real frame t. Otherwise frame t is its own base, with its mirrored
  neighbours as streams (the correction should then be nothing). The two end frames can never be held
  out. Frame t never reaches its own streams, and held out not even the base.
- An integer time is the frame itself as base (the filter passes observed frames through untouched).
- Normalisation: each input's LL by its own [min, max], as SNeRV-B; the correction is in the bands'
  own units, so no [min, max] is needed to decode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from vsinr.nn.pointwise import Pointwise
from vsinr.ops.flow import between, pairs
from vsinr.runtime import optim
from vsinr.runtime.fitting import check_finite
from vsinr_snerv.fit import Schedule, fusion, optimise, pad
from vsinr_snerv.model import EMBED, Encoder, Fuse, HighHead, normalise, pair, plan, widths
from vsinr_snerv.wavelet import dwt, idwt

T_EMBED = 3  # channels of each temporal stream's embedding
T_DIMS = 64  # width of the temporal encoders' stages but the last


@dataclass(frozen=True)
class TConfig:
    """Everything the SNeRV-T model's shape depends on."""

    fc_dim: int
    strides: tuple[int, ...]  # five main strides, largest first (model.plan)
    embed_size: tuple[int, int]  # (h, w) of a main embedding
    size: tuple[int, int]  # (height, width) of the clip
    padded: tuple[int, int]  # (height, width) the model works at
    t_strides: tuple[int, ...]  # temporal encoders' strides
    t_repeats: tuple[int, ...]  # the temporal-embedding decoder's transposed-conv strides
    t_embed_size: tuple[int, int]  # (h, w) of one stream's embedding

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict) -> TConfig:
        return TConfig(fc_dim=int(data["fc_dim"]), strides=tuple(int(s) for s in data["strides"]),
                       embed_size=pair(data["embed_size"]), size=pair(data["size"]), padded=pair(data["padded"]),
                       t_strides=tuple(int(s) for s in data["t_strides"]),
                       t_repeats=tuple(int(s) for s in data["t_repeats"]), t_embed_size=pair(data["t_embed_size"]))


def _primes(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return sorted(out, reverse=True)


def tconfig_for(height: int, width: int, fc_dim: int, emb_size: int = 20) -> TConfig:
    """The SNeRV-T configuration for ``height`` × ``width`` frames.

    The main strides s come from ``model.plan``. Up-block 1's output is at U = LL / (s2·s3·s4). A stream's
    embedding is at U / R, and the temporal decoder brings it back with transposed convs whose strides
    multiply to R; so the temporal encoders' strides multiply to s2·s3·s4·R. R is the divisor of both sides
    of U, made of factors 2, 3 and 5, whose embedding's smaller side comes closest to ``emb_size`` (ties: the
    larger R); the repeats are R's prime factors, largest first, and the encoder strides are s2, s3, s4
    (1s dropped) and R's factors, largest first, the two smallest merged while there are more than five
    (a single stride 1 if none). Bunny emb 20 gives [2,2,2,2] and repeats [2] (3×20×40), UVG [3,2,2,2] / [2],
    480×960 emb 10 [3,2,2,2] / [3] (10×20), as the official code; other settings may split the same
    product into different stages (the encoders are not stored, so only their cost differs).
    """
    strides, (eh, ew), padded = plan(height, width)
    uh, uw = eh * strides[0] * strides[1], ew * strides[0] * strides[1]
    g = math.gcd(uh, uw)
    candidates = [r for r in range(1, g + 1) if g % r == 0 and all(p <= 5 for p in _primes(r))]
    ratio = min(candidates, key=lambda r: (abs(min(uh, uw) / r - emb_size), -r))
    repeats = _primes(ratio)
    t_strides = sorted([s for s in strides[2:] if s > 1] + repeats, reverse=True)
    while len(t_strides) > 5:
        t_strides = sorted([*t_strides[:-2], t_strides[-2] * t_strides[-1]], reverse=True)
    return TConfig(fc_dim=fc_dim, strides=strides, embed_size=(eh, ew), size=(height, width), padded=padded,
                   t_strides=tuple(t_strides) or (1,), t_repeats=tuple(repeats),
                   t_embed_size=(uh // ratio, uw // ratio))


class Block2d(nn.Module):
    """Transposed conv (kernel = stride) to u, then u + LReLU(conv3×3(LReLU(conv3×3(u)))) through 2c channels."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, stride, stride=stride)
        self.a = nn.Conv2d(cout, 2 * cout, 3, padding=1)
        self.b = nn.Conv2d(2 * cout, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.up(x)
        return u + F.leaky_relu(self.b(F.leaky_relu(self.a(u), 0.1)), 0.1)


class TUB(nn.Module):
    """Temporal up-sampling block: one transposed conv per stream, Conv3d 3×3×3 on the [prev, cur, next]
    stack with a residual; the last block has no temporal padding in its second conv (T 3→1)."""

    def __init__(self, cin: int, cout: int, stride: int, last: bool):
        super().__init__()
        self.ups = nn.ModuleList(nn.ConvTranspose2d(cin, cout, stride, stride=stride) for _ in range(3))
        self.a = nn.Conv3d(cout, 2 * cout, 3, padding=1)
        self.b = nn.Conv3d(2 * cout, cout, 3, padding=(0 if last else 1, 1, 1))
        self.last = last

    def forward(self, streams: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        u = torch.stack([up(x) for up, x in zip(self.ups, streams, strict=True)], dim=2)  # (N, c, 3, h, w)
        y = F.leaky_relu(self.b(F.leaky_relu(self.a(u), 0.1)), 0.1)
        if self.last:
            return (y[:, :, 0] + u[:, :, 1],)
        return tuple((y + u).unbind(2))  # prev, cur, next


class TDecoder(nn.Module):
    """What the facts count as SNeRV-T's decoder: main fc, temporal-embedding decoder, 2D blocks, TUBs,
    fusion unit and high-band heads (not the encoders, not the LL head)."""

    def __init__(self, config: TConfig):
        super().__init__()
        c, s = widths(config.fc_dim), config.strides
        self.fc = Pointwise(EMBED, config.fc_dim)
        self.t_fc = Pointwise(T_EMBED, c[1])
        self.t_ups = nn.ModuleList(nn.ConvTranspose2d(c[1], c[1], r, stride=r) for r in config.t_repeats)
        self.blocks = nn.ModuleList([Block2d(config.fc_dim, c[0], s[0]), Block2d(c[0], c[1], s[1])])
        self.tubs = nn.ModuleList(TUB(c[i - 1], c[i], s[i], i == 4) for i in (2, 3, 4))
        self.fuse_a = Fuse(c[2], c[3], c[3], s[3])  # the official code hard-wires stride 2 here
        self.fuse_b = Fuse(c[3], c[4], c[4], s[4])
        self.high = nn.ModuleList(HighHead(c[4]) for _ in range(3))

    def forward(self, main: torch.Tensor, temporal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.gelu(self.fc(main))
        for block in self.blocks:
            x = block(x)
        # previous and next streams share the temporal decoder: run them as one batch
        y = F.gelu(self.t_fc(torch.cat(temporal.split(T_EMBED, dim=1), 0)))
        for up in self.t_ups:
            y = up(y)
        previous, following = y.chunk(2, 0)
        streams, features = (previous, x, following), []
        for tub in self.tubs:
            streams = tub(streams)
            features.append(streams[1] if len(streams) == 3 else streams[0])
        fused = self.fuse_b(self.fuse_a(features[0], features[1]), features[2])
        return fused, torch.stack([head(fused) for head in self.high], dim=2)


def _mirror(index: int, length: int) -> int:
    if index < 0:
        index = -index
    elif index >= length:
        index = 2 * (length - 1) - index
    return min(max(index, 0), length - 1)  # a one-frame clip is its own neighbour


def sources(length: int, time: float, held_out: bool = False) -> tuple[int, int, float, int, int]:
    """Which frames a ``time`` in [0, length-1] is decoded from: (a, b, s, prev, next) — the base at s
    between frames a and b, temporal streams from frames prev and next (see the module docstring)."""
    if not 0 <= time <= length - 1:
        raise ValueError(f"time {time} is outside the clip's [0, {length - 1}]")
    t = math.floor(time)
    s = float(time - t)
    if s > 0:
        return t, t + 1, s, t, t + 1
    if held_out and 0 < t < length - 1:
        return t - 1, t + 1, 0.5, t - 1, t + 1
    return t, t, 0.0, _mirror(t - 1, length), _mirror(t + 1, length)


Flows = dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]]


def base(frames: torch.Tensor, a: int, b: int, s: float, flows: Flows | None = None) -> torch.Tensor:
    """The motion-compensated base (1, 3, H, W) at s between frames ``a`` and ``b`` of ``frames`` (T, 3, H, W).
    ``flows`` keeps the last two pairs' flow for the next call on the same clip: at 1280×720 one pair
    costs DIS 1.4 s, and an ``Interpolate`` by 4 renders three times between each pair."""
    if s == 0 or a == b:
        return frames[a : a + 1].clone()
    pair = frames[[a, b]].float()
    found = None if flows is None else flows.get((a, b))
    if found is None:
        found = pairs(pair.cpu())
        if flows is not None:
            flows[(a, b)] = found
            while len(flows) > 2:
                del flows[next(iter(flows))]
    forward, backward = found
    return between(pair[:1], pair[1:], forward.to(pair.device), backward.to(pair.device), s)


def _bands(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded frames (N, 3, H, W) → LL, high bands and per-frame [min, max] of LL (N, 2)."""
    low, high = dwt(frames)
    flat = low.flatten(1)
    return low, high, torch.stack([flat.amin(1), flat.amax(1)], 1)


def _unit_low(frames: torch.Tensor) -> torch.Tensor:
    """What an encoder sees of padded frames: their LL scaled to [0, 1] by its own [min, max]."""
    low, _, norms = _bands(frames)
    return normalise(low, norms)


class SNeRVT(nn.Module):
    """The SNeRV-T model of one clip: main and temporal encoders, decoder, LL head (all needed to render)."""

    def __init__(self, config: TConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.strides)
        dims = (T_DIMS,) * (len(config.t_strides) - 1) + (T_EMBED,)
        self.t_encoders = nn.ModuleList(Encoder(config.t_strides, dims) for _ in range(2))  # previous, next
        self.decoder = TDecoder(config)
        self.head = nn.Conv2d(widths(config.fc_dim)[-1], 3, 3, padding=1)
        # the correction to the base starts at zero: an unfitted model renders the base
        for layer in (self.head, *(cast(HighHead, head).b for head in self.decoder.high)):
            nn.init.zeros_(layer.weight)
            assert layer.bias is not None
            nn.init.zeros_(layer.bias)

    def pad(self, frames: torch.Tensor) -> torch.Tensor:
        return pad(frames.float(), self.config.padded)

    def forward(self, start: torch.Tensor, previous: torch.Tensor, following: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded base, previous and next frames (N, 3, H, W) → padded output frames (unclamped), their LL
        and high bands (the base's bands plus the decoder's correction)."""
        low, high, norms = _bands(start)
        main = self.encoder(normalise(low, norms))
        streams = [enc(_unit_low(x)) for enc, x in zip(self.t_encoders, (previous, following), strict=True)]
        fused, correction = self.decoder(main, torch.cat(streams, 1))
        low = low + self.head(fused)
        high = high + correction
        return idwt(low, high), low, high

    def inputs(self, frames: torch.Tensor, time: float, held_out: bool = False, flows: Flows | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The padded base, previous and next frames (1, 3, H, W) for ``time``, from the clip ``frames``
        (``flows``: as in ``base``)."""
        a, b, s, prev, nxt = sources(len(frames), time, held_out)
        return (self.pad(base(frames, a, b, s, flows)), self.pad(frames[prev : prev + 1]),
                self.pad(frames[nxt : nxt + 1]))


def t_schedule(epochs: int = 300) -> Schedule:
    """The official SNeRV-T schedule: 20% warm-up (B uses 10%)."""
    return Schedule(epochs=epochs, warmup=0.2)


def fit_t(model: SNeRVT, frames: torch.Tensor, schedule: Schedule, device: str, seed: int,
          log: Callable[[str], None] | None = None, hold: float = 0.5, checkpoint: Path | None = None) -> list[float]:
    """Fit ``model`` in place to ``frames`` (T, 3, H, W) in [0, 1], one frame per step, with held-out
    samples at probability ``hold``; returns the mean loss of each epoch it ran. ``checkpoint`` makes
    the fit resumable, as in ``fit.fit``."""
    check_finite(frames)
    dev = torch.device(device)
    model.to(dev)
    frames = frames.float()
    padded = model.pad(frames)
    low, high, norms = _bands(padded)
    held_bases: dict[int, torch.Tensor] = {}  # the held-out base of each inner frame, made once

    def step(t: int, generator: torch.Generator) -> tuple[torch.Tensor, float]:
        held = bool(torch.rand(1, generator=generator).item() < hold) and 0 < t < len(frames) - 1
        _, _, _, prev, nxt = sources(len(frames), float(t), held)
        if held and t not in held_bases:
            held_bases[t] = model.pad(base(frames, t - 1, t + 1, 0.5))
        start = held_bases[t] if held else padded[t : t + 1]
        out, low_hat, high_hat = model(start.to(dev), padded[prev : prev + 1].to(dev), padded[nxt : nxt + 1].to(dev))
        frame, norm = padded[t : t + 1].to(dev), norms[t : t + 1].to(dev)
        # the LL terms compare both bands scaled by the target's [min, max], as SNeRV-B's loss does
        loss = (fusion(out, frame) + fusion(normalise(low_hat, norm), normalise(low[t : t + 1].to(dev), norm))
                + fusion(high_hat.flatten(1, 2), high[t : t + 1].to(dev).flatten(1, 2)))
        return loss, float(((out.detach() - frame) ** 2).mean())

    tag = optim.checkpoint_tag([model.config.to_json(), asdict(schedule), seed, hold], frames)
    return optimise(model, len(frames), step, schedule, seed, tag, log or (lambda text: None), checkpoint)


@torch.no_grad()
def render_t(model: SNeRVT, frames: torch.Tensor, time: float, held_out: bool = False,
             flows: Flows | None = None) -> torch.Tensor:
    """The frame (3, H, W) at any ``time`` in [0, T-1] of the clip ``frames`` (T, 3, H, W), unclamped, on
    the model's device; ``held_out`` renders an integer time as if its frame were missing; ``flows``: a
    dict kept between calls on the same clip (``base``)."""
    model.eval()
    device = next(model.parameters()).device
    start, previous, following = model.inputs(frames.float(), time, held_out, flows)
    out, _, _ = model(start.to(device), previous.to(device), following.to(device))
    height, width = model.config.size
    return out[0, :, :height, :width]


def t_decoder_parameters(config: TConfig) -> int:
    """Parameters the facts count as SNeRV-T's decoder (``TDecoder``), built on the meta device."""
    with torch.device("meta"):
        return sum(p.numel() for p in TDecoder(config).parameters())


def t_total_parameters(config: TConfig, frames: int) -> int:
    """Decoder + per frame: main embedding, [min, max] and the two temporal streams."""
    (eh, ew), (th, tw) = config.embed_size, config.t_embed_size
    return t_decoder_parameters(config) + frames * (EMBED * eh * ew + 2 + 2 * T_EMBED * th * tw)
