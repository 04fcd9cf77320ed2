"""The classic engine: linear blending of a pair of frames (already resized by the host)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


class BlendEngine:
    """Pair windows; output at local time t is (1 - t)·left + t·right, exact at t = 0 and t = 1."""

    window = 2
    step = 1
    halo = 0

    def render(self, frames: torch.Tensor, times: Sequence[float], size: tuple[int, int]) -> list[torch.Tensor]:
        if tuple(frames.shape[-2:]) != tuple(size):  # only when a caller skips the host's native resize
            frames = F.interpolate(frames, size=size, mode="bicubic", align_corners=False, antialias=True)
        left, right = frames[0], frames[1]
        # torch.lerp is exact at both ends (it evaluates from the nearer end), so held and source-aligned
        # frames come out bit-identical to the source.
        return [left if t == 0 else torch.lerp(left, right, t) for t in times]
