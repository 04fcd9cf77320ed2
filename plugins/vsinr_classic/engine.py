"""The classic engines: frames between two source frames (already resized by the host), by linear blending
or by motion compensation along DIS optical flow."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from vsinr.host.methods import PAIRS
from vsinr.ops import flow


def _at_output_size(frames: Sequence[torch.Tensor], out: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The pair as given, or bicubic-resized to the outputs' size when a caller skips the host's native
    resize (the host resizes with zimg before these engines)."""
    left, right = frames
    if left.shape != out[0].shape:
        pair = F.interpolate(torch.stack(list(frames)), size=out[0].shape[-2:], mode="bicubic", antialias=True)
        left, right = pair[0], pair[1]
    return left, right


class BlendEngine:
    """Pair windows; output at local time t is (1 - t)·left + t·right, exact at t = 0 and t = 1."""

    layout = PAIRS

    def render(self, frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor],
               cuts: frozenset[int] = frozenset()) -> None:
        left, right = _at_output_size(frames, out)
        for t, target in zip(times, out, strict=True):
            # torch.lerp is exact at both ends (it evaluates from the nearer end), so source-aligned and
            # held frames come out bit-identical to the source.
            if t == 0:
                target.copy_(left)
            else:
                torch.lerp(left, right, t, out=target)


class FlowEngine:
    """Pair windows; output at local time t is ``vsinr.ops.flow.between``: both frames fetched along DIS flow
    and mixed (1 - t, t). Exact copies at t = 0 and t = 1.

    Flow is estimated on the frames shrunk back to the source size (``flow_scale`` = 1 / sscale), so its
    cost does not grow with the output scale and it sees the source's own detail, not the resizer's.
    """

    layout = PAIRS

    def __init__(self, flow_scale: float = 1.0):
        self.flow_scale = flow_scale

    def render(self, frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor],
               cuts: frozenset[int] = frozenset()) -> None:
        left, right = _at_output_size(frames, out)
        f01 = f10 = None
        for t, target in zip(times, out, strict=True):
            if t in (0, 1):
                target.copy_(left if t == 0 else right)
                continue
            if f01 is None or f10 is None:  # once per pair, on its first in-between frame (both set together)
                f01, f10 = flow.pair(left, right, self.flow_scale)
                a, b = left[None].float(), right[None].float()
            target.copy_(flow.between(a, b, f01, f10, float(t))[0].clamp_(0, 1))
