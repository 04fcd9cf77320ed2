"""ZSM's flow-guided ×1 restoration configuration: classical alignment, learned fusion and repair.

The released Zooming SlowMo aligns neighbouring frames with learned deformable convolutions (PCD) and
fuses them with a deformable ConvLSTM; trained for minutes on a CPU, neither learns anything. Here the
alignment is DIS optical flow (``vsinr.flow``, no weights) and a small network learns what a classical
temporal filter misses. Each output frame is restored from a window of 2·radius + 1 frames centred on it:

1. a prefilter: for impulse noise (``prefilter="impulse"``), pixels that are black or white in every
   channel are replaced by the 3×3 median (a switching median: other pixels keep their detail), and the
   3×3 median of every frame guides the flow; otherwise the frames are used as they are;
2. each neighbour is moved onto the centre frame along the DIS flow between the guides (``aligned``);
3. the fixed base: a temporal average of the aligned frames, each neighbour weighted by
   exp(-d/spread²), d being the mean squared guide difference to the centre over 5×5 pixels, so that
   occlusions and flow failures fall back on the centre frame (frames across a marked scene change are
   never used: ``slot_order`` repeats the shot's end frame instead);
4. a convolutional network sees the aligned frames, the base, the weights and the impulse mask and adds
   a correction to the base. Its last layer starts at zero, so an untrained model is exactly its base.

Every operation of the network exports to ONNX (convolutions, pooling); the flow is computed outside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vsinr import flow

#: Model configurations of this kind (``kind: flow`` in a weights file's header).
CONFIGS: dict[str, dict] = {
    "flow_noise": {"kind": "flow", "radius": 2, "nf": 32, "blocks": 4, "prefilter": "impulse", "spread": 0.06},
    "flow_jpeg": {"kind": "flow", "radius": 2, "nf": 32, "blocks": 4, "prefilter": "none", "spread": 0.05},
    "flow_tiny": {"kind": "flow", "radius": 1, "nf": 8, "blocks": 1, "prefilter": "impulse", "spread": 0.06},
}
PREFILTERS = ("impulse", "none")


def median3(x: torch.Tensor) -> torch.Tensor:
    """3×3 median of (N, C, H, W), edges repeated: the 19 exchanges of a sorting network that finds the
    middle of 9 values (exact, and much faster than sorting patches)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    p = [padded[..., dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]

    def order(i: int, j: int) -> None:
        p[i], p[j] = torch.minimum(p[i], p[j]), torch.maximum(p[i], p[j])

    for i, j in ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8),
                 (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2)):
        order(i, j)
    return p[4]


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (radius,) * 4, mode="replicate"), 2 * radius + 1, 1)


class ResBlock(nn.Module):
    def __init__(self, nf: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv2 = nn.Conv2d(nf, nf, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.1))


class FlowZSM(nn.Module):
    """Restores the centre of a window of aligned frames: flow-weighted temporal average + learned correction."""

    def __init__(self, kind: str = "flow", radius: int = 2, nf: int = 32, blocks: int = 4,
                 prefilter: str = "impulse", spread: float = 0.06):
        super().__init__()
        if kind != "flow":
            raise TypeError(f"FlowZSM builds kind 'flow', not {kind!r}")
        if not (isinstance(radius, int) and 1 <= radius <= 4):
            raise TypeError(f"radius must be an integer from 1 to 4, got {radius!r}")
        if prefilter not in PREFILTERS:
            raise TypeError(f"prefilter must be one of {PREFILTERS}, got {prefilter!r}")
        if not 0 < float(spread) < 1:
            raise TypeError(f"spread must be in (0, 1), got {spread!r}")
        self.radius, self.prefilter, self.spread = radius, prefilter, float(spread)
        self.config = {"kind": kind, "radius": radius, "nf": nf, "blocks": blocks, "prefilter": prefilter,
                       "spread": self.spread}
        slots = 2 * radius + 1
        # aligned frames, the base, each neighbour's weight, the centre's impulse mask
        self.head = nn.Conv2d(3 * slots + 3 + (slots - 1) + 1, nf, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(nf) for _ in range(blocks)])
        self.tail = nn.Conv2d(nf, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)
        #: input context of each output pixel, in pixels (what a band of rows needs around it)
        self.halo = 2 * blocks + 2

    @property
    def slots(self) -> int:
        return 2 * self.radius + 1

    def prepare(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Prefiltered frames, flow guides and impulse masks (N, 1, H, W) of degraded frames (N, 3, H, W).

        Values that are not finite are read as black (NaN, -inf) or white (+inf), so one broken pixel stays
        one pixel (and the impulse prefilter replaces it) instead of spreading through the network."""
        frames = torch.nan_to_num(frames, nan=0.0, posinf=1.0, neginf=0.0)
        if self.prefilter == "none":
            return frames, frames, frames.new_zeros(frames.shape[0], 1, *frames.shape[-2:])
        smooth = median3(frames)
        hit = ((frames <= 0.5 / 255).all(1, keepdim=True) | (frames >= 254.5 / 255).all(1, keepdim=True))
        hit = hit.to(frames.dtype)
        return torch.lerp(frames, smooth, hit), smooth, hit

    def forward(self, slots: torch.Tensor, guides: torch.Tensor, hit: torch.Tensor, rows: int = 0) -> torch.Tensor:
        """The restored centre (B, 3, H, W) from ``aligned``'s frames and guides (B, S, 3, H, W), centre at
        slot ``radius``, and the centre's impulse mask (B, 1, H, W); ``rows`` > 0 runs the network on that
        many rows at a time (bounded memory, same result)."""
        c = self.radius
        centre = guides[:, c : c + 1]
        others = torch.cat([guides[:, :c], guides[:, c + 1 :]], 1)
        distance = _box(((others - centre) ** 2).mean(2), 2)  # (B, S-1, H, W)
        weight = torch.exp(-distance / self.spread**2)
        frames = torch.cat([slots[:, :c], slots[:, c + 1 :]], 1)
        base = (slots[:, c] + (weight.unsqueeze(2) * frames).sum(1)) / (1 + weight.sum(1, keepdim=True))
        x = torch.cat([slots.flatten(1, 2), base, weight, hit], 1)
        height = x.shape[-2]
        step = rows if 0 < rows < height else height
        out = []
        for y0 in range(0, height, step):
            lo, hi = max(0, y0 - self.halo), min(height, y0 + step + self.halo)
            part = self._correction(x[..., lo:hi, :])
            out.append(part[..., y0 - lo : y0 - lo + min(step, height - y0), :])
        return base + (torch.cat(out, -2) if len(out) > 1 else out[0])

    def _correction(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.leaky_relu(self.head(x), 0.1)  # leaky: a dead unit would stop learning for good
        return self.tail(feat + self.body(feat))


def slot_order(centre: int, count: int, radius: int, cuts: frozenset[int] = frozenset()) -> list[int]:
    """Window indices for the slots around ``centre`` in a window of ``count`` frames: centre ± radius,
    repeating the first or last frame of the centre's shot where the window or the shot ends (``cuts``:
    indices i with a scene change between frames i and i + 1)."""
    first = max((i + 1 for i in cuts if i < centre), default=0)
    last = min((i for i in cuts if i >= centre), default=count - 1)
    return [min(max(centre + i, first), last) for i in range(-radius, radius + 1)]


def aligned(prefiltered: torch.Tensor, guides: torch.Tensor, order: Sequence[int], centre: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames and guides of ``order`` (window indices) moved onto frame ``centre`` along DIS flow, each
    (S, 3, H, W). Flow is estimated once per distinct neighbour, from the centre's guide to its guide."""
    gray = {i: flow._gray(guides[i]) for i in {*order, centre}}
    moved: dict[int, tuple[torch.Tensor, torch.Tensor]] = {centre: (prefiltered[centre], guides[centre])}
    for i in order:
        if i in moved:
            continue
        f = flow.flow(gray[centre], gray[i])
        f = torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))[None].to(guides.device, guides.dtype)
        both = flow.warp(torch.stack([prefiltered[i], guides[i]]), f.expand(2, -1, -1, -1))
        moved[i] = (both[0], both[1])
    return torch.stack([moved[i][0] for i in order]), torch.stack([moved[i][1] for i in order])
