"""SNeRV-B: per-frame embeddings of the wavelet low band, and a decoder that restores LL and the high bands.

Architecture as described in the facts sheet (our own code): a ConvNeXt encoder turns each frame's
normalised LL into a 16-channel embedding; the decoder (1×1 conv, five NeRV up-sampling blocks, a
multi-resolution fusion unit and a high-frequency restorer) turns the embedding back into LL and the
LH/HL/HH bands, and the inverse Haar transform gives the frame. Only the decoder, the LL head and the
embeddings are stored in a compressed file; the encoder is needed for fitting only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, SupportsInt

import torch
import torch.nn.functional as F
from torch import nn

from vsinr.nn.pointwise import Pointwise
from vsinr_snerv import target_parameters
from vsinr_snerv.wavelet import dwt, idwt

EMBED = 16  # channels of a frame's embedding
KERNELS = (1, 3, 5, 5, 5)  # kernel of up-sampling block i
REDUCE, LOWER = 1.2, 12  # each block's width is the previous one's / 1.2, at least 12
MFU_BLOCKS = 6  # residual blocks in each fusion stage


@dataclass(frozen=True)
class Config:
    """Everything the decoder's shape depends on (stored in a compressed file's header)."""

    fc_dim: int
    strides: tuple[int, ...]  # five up-sampling strides, largest first
    embed_size: tuple[int, int]  # (h, w) of an embedding
    size: tuple[int, int]  # (height, width) of the clip
    padded: tuple[int, int]  # (height, width) the model works at (≥ size, cropped back)

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict) -> Config:
        return Config(fc_dim=int(data["fc_dim"]), strides=tuple(int(s) for s in data["strides"]),
                      embed_size=pair(data["embed_size"]), size=pair(data["size"]), padded=pair(data["padded"]))


def pair(value: Iterable[SupportsInt]) -> tuple[int, int]:
    a, b = value
    return int(a), int(b)


def widths(fc_dim: int) -> list[int]:
    """Output channels of the five up-sampling blocks (Python's round: halves to even)."""
    out, previous = [], fc_dim
    for _ in range(5):
        previous = int(max(round(previous / REDUCE), LOWER))
        out.append(previous)
    return out


def _plans() -> dict[int, tuple[int, ...]]:
    """For each product of five strides in 1..5, its plan: fewest 1s (empty stages), largest first."""
    best: dict[int, tuple[int, ...]] = {}
    for combo in itertools.combinations_with_replacement((5, 4, 3, 2, 1), 5):
        product = math.prod(combo)
        if product not in best or combo.count(1) < best[product].count(1):
            best[product] = combo
    return best


PLANS = _plans()


def plan(height: int, width: int, slack: float = 0.05) -> tuple[tuple[int, ...], tuple[int, int], tuple[int, int]]:
    """Strides, embedding size and padded frame size for frames of ``height`` × ``width``.

    The LL band (half the frame) is divided by the strides' product P down to the embedding, so P must
    divide the padded LL. The rule: the largest P that leaves at least 2 embedding rows and columns and
    pads the frame by at most ``slack`` of its area (a frame is padded at its bottom and right edges
    by repeating them, and the output cropped back). Bunny's 640×1280 gives the paper's 5,4,2,2,2 and a
    2×4 embedding; UVG's 960×1920 gives 5,4,3,2,2; 480×960 gives 5,3,2,2,2.
    """
    low_h, low_w = -(-height // 2), -(-width // 2)
    area = height * width
    chosen = 1
    for product in sorted(PLANS):
        if product > max(1, min(low_h, low_w) // 2):
            break
        padded = 4 * (-(-low_h // product) * product) * (-(-low_w // product) * product)
        if padded <= area * (1 + slack):
            chosen = product
    ph, pw = -(-low_h // chosen), -(-low_w // chosen)
    return PLANS[chosen], (ph, pw), (2 * ph * chosen, 2 * pw * chosen)


def config_for(height: int, width: int, fc_dim: int) -> Config:
    strides, embed, padded = plan(height, width)
    return Config(fc_dim=fc_dim, strides=strides, embed_size=embed, size=(height, width), padded=padded)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """7×7 depth-wise conv, LayerNorm, a 4× MLP with GELU, a layer scale starting at 1e-6, residual."""

    def __init__(self, channels: int):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.expand = nn.Linear(channels, 4 * channels)
        self.project = nn.Linear(4 * channels, channels)
        self.gamma = nn.Parameter(torch.full((channels,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(x).permute(0, 2, 3, 1)
        y = self.project(F.gelu(self.expand(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class Encoder(nn.Module):
    """Normalised LL (N, 3, h, w) → embedding (N, 16, h/P, w/P): five stride-s stages, each a
    non-overlapping conv and one ConvNeXt block (the stem normalises after its conv, the others before)."""

    def __init__(self, strides: tuple[int, ...], dims: tuple[int, ...] = (64, 64, 64, 64, EMBED)):
        super().__init__()
        stages: list[nn.Module] = []
        previous = 3
        for i, (stride, dim) in enumerate(zip(strides, dims, strict=True)):
            conv = nn.Conv2d(previous, dim, stride, stride=stride)
            parts = [conv, LayerNorm2d(dim, eps=1e-6)] if i == 0 else [LayerNorm2d(previous, eps=1e-6), conv]
            stages.append(nn.Sequential(*parts, ConvNeXtBlock(dim)))
            previous = dim
        self.stages = nn.Sequential(*stages)
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                assert module.bias is not None
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)


class UpBlock(nn.Module):
    """NeRV up-sampling: conv to c·s² channels, pixel shuffle by s, GELU."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * stride * stride, kernel, padding=(kernel - 1) // 2)
        self.shuffle = nn.PixelShuffle(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.shuffle(self.conv(x)))


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.a = nn.Conv2d(channels, channels, 3, padding=1)
        self.b = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.leaky_relu(self.a(x), 0.1))


class Fuse(nn.Module):
    """One fusion stage: up-sample the coarse feature (transposed conv, kernel = stride), concatenate the
    finer one, a 3×3 conv to ``cout`` channels (no activation) and residual blocks."""

    def __init__(self, coarse: int, fine: int, cout: int, stride: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(coarse, coarse, stride, stride=stride)
        self.conv = nn.Conv2d(coarse + fine, cout, 3, padding=1)
        self.blocks = nn.Sequential(*(Residual(cout) for _ in range(MFU_BLOCKS)))

    def forward(self, coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.conv(torch.cat([self.up(coarse), fine], 1)))


class HighHead(nn.Module):
    """One high band from the fused feature: 1×1 conv, LeakyReLU, 3×3 conv to RGB (unbounded)."""

    def __init__(self, channels: int):
        super().__init__()
        self.a = Pointwise(channels, channels)
        self.b = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(F.leaky_relu(self.a(x), 0.1))


class Decoder(nn.Module):
    """Embedding (N, 16, h, w) → fused feature at LL resolution → normalised LL (via ``head``) and the
    three high bands (N, 3, 3, H/2, W/2)."""

    def __init__(self, config: Config):
        super().__init__()
        c = widths(config.fc_dim)
        s = config.strides
        self.fc = Pointwise(EMBED, config.fc_dim)
        self.ups = nn.ModuleList(
            UpBlock(cin, cout, stride, kernel)
            for cin, cout, stride, kernel in zip([config.fc_dim, *c[:-1]], c, s, KERNELS, strict=True))
        self.fuse_a = Fuse(c[2], c[3], c[3], s[3])
        self.fuse_b = Fuse(c[3], c[4], c[4], s[4])
        self.high = nn.ModuleList(HighHead(c[4]) for _ in range(3))

    def forward(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.gelu(self.fc(embedding))
        features = []
        for up in self.ups:
            x = up(x)
            features.append(x)
        fused = self.fuse_b(self.fuse_a(features[2], features[3]), features[4])
        high = torch.stack([head(fused) for head in self.high], dim=2)
        return fused, high


class SNeRV(nn.Module):
    """The SNeRV-B model of one clip: encoder (fitting only), decoder, LL head."""

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.strides)
        self.decoder = Decoder(config)
        self.head = nn.Conv2d(widths(config.fc_dim)[-1], 3, 3, padding=1)

    def analyse(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded frames (N, 3, H, W) → LL, high bands, per-frame [min, max] of LL (N, 2)."""
        low, high = dwt(frames)
        flat = low.flatten(1)
        return low, high, torch.stack([flat.amin(1), flat.amax(1)], 1)

    def embed(self, low: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
        return self.encoder(normalise(low, norms))

    def decode(self, embedding: torch.Tensor, norms: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Embeddings and [min, max] → frames (N, 3, H, W) unclamped, normalised LL in (0, 1), high bands."""
        fused, high = self.decoder(embedding)
        unit = 0.5 * torch.tanh(self.head(fused)) + 0.5
        low = unit * (norms[:, 1] - norms[:, 0]).view(-1, 1, 1, 1) + norms[:, 0].view(-1, 1, 1, 1)
        return idwt(low, high), unit, high


def normalise(low: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """LL scaled to [0, 1] by each frame's [min, max] (a flat LL stays 0)."""
    span = (norms[:, 1] - norms[:, 0]).clamp(min=1e-6)
    return (low - norms[:, 0].view(-1, 1, 1, 1)) / span.view(-1, 1, 1, 1)


def decoder_parameters(config: Config) -> int:
    """What the paper counts as the decoder: everything but the encoder and the LL head."""
    with torch.device("meta"):
        return sum(p.numel() for p in Decoder(config).parameters())


def total_parameters(config: Config, frames: int) -> int:
    """Decoder + per-frame embeddings + per-frame [min, max]: the model size the presets aim at."""
    eh, ew = config.embed_size
    return decoder_parameters(config) + frames * (EMBED * eh * ew + 2)


def sized(height: int, width: int, frames: int, size: str | float,
          make: Callable[[int, int, int], Any] | None = None, count: Callable[[Any, int], int] | None = None) -> Any:
    """The configuration whose total size comes closest to ``size`` (a preset name such as "1.5M", or a
    number of parameters). ``make(height, width, fc_dim)`` and ``count(config, frames)`` default to
    SNeRV-B's ``config_for`` and ``total_parameters`` (SNeRV-T passes its own). A ``size`` far below
    the smallest model (channel widths have a floor) is refused rather than silently exceeded."""
    make, count = make or config_for, count or total_parameters
    target = target_parameters(size)
    smallest = count(make(height, width, LOWER), frames)
    if smallest > 1.5 * target:
        raise ValueError(f"size={size} asks for {target:,.0f} parameters, but the smallest model for {width}x{height} "
                         f"and {frames} frames has {smallest:,}: give size={smallest} or more")
    best: tuple[float, Any] | None = None
    for fc_dim in range(LOWER, 400):
        config = make(height, width, fc_dim)
        total = count(config, frames)
        if best is None or abs(total - target) < best[0]:
            best = (abs(total - target), config)
        elif total > target:  # the size only grows with fc_dim
            break
    assert best is not None
    return best[1]
