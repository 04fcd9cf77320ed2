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
    bytes_per_out_pixel = 0

    def render(self, frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor]) -> None:
        left, right = frames
        if left.shape != out[0].shape:  # only when a caller skips the host's native resize
            pair = F.interpolate(torch.stack(frames), size=out[0].shape[-2:], mode="bicubic", antialias=True)
            left, right = pair[0], pair[1]
        for t, target in zip(times, out, strict=True):
            # torch.lerp is exact at both ends (it evaluates from the nearer end), so source-aligned and
            # held frames come out bit-identical to the source.
            if t == 0:
                target.copy_(left)
            else:
                torch.lerp(left, right, t, out=target)
