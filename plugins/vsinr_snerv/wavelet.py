"""The orthonormal Haar wavelet, one level, in space (2×2 blocks) and in time (frame pairs).

For a 2×2 block [[a, b], [c, d]] the bands are LL = (a+b+c+d)/2, LH = (a+b-c-d)/2 (high-pass along the
height: horizontal edges), HL = (a-b+c-d)/2 (vertical edges) and HH = (a-b-c+d)/2, in that order, the
convention of PyWavelets' cA, cH, cV, cD. The transform is orthonormal, so ``idwt`` undoes ``dwt``
exactly (to float rounding) and an error in a band costs the same energy in the frame.
"""

from __future__ import annotations

import torch


def dwt(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, H, W) with even H and W → LL (N, C, H/2, W/2) and the high bands (N, C, 3, H/2, W/2)."""
    if frames.shape[-2] % 2 or frames.shape[-1] % 2:
        raise ValueError(f"dwt needs an even height and width, got {tuple(frames.shape[-2:])}")
    a, b = frames[..., 0::2, 0::2], frames[..., 0::2, 1::2]
    c, d = frames[..., 1::2, 0::2], frames[..., 1::2, 1::2]
    low = (a + b + c + d) / 2
    high = torch.stack([(a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2], dim=-3)
    return low, high


def idwt(low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """The inverse of ``dwt``: LL (N, C, h, w) and high bands (N, C, 3, h, w) → (N, C, 2h, 2w)."""
    lh, hl, hh = high.unbind(-3)
    a = (low + lh + hl + hh) / 2
    b = (low + lh - hl - hh) / 2
    c = (low - lh + hl - hh) / 2
    d = (low - lh - hl + hh) / 2
    top = torch.stack([a, b], dim=-1).flatten(-2)  # interleave columns
    bottom = torch.stack([c, d], dim=-1).flatten(-2)
    return torch.stack([top, bottom], dim=-2).flatten(-3, -2)  # interleave rows

