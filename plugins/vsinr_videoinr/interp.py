"""VideoINR's flow-guided temporal network: the frame at any time t between two source frames.

The fixed base is ``classic``'s frame: DIS optical flow between the pair (``vsinr.ops.flow``), both
frames fetched along the flows from t (``flow.intermediate``) and mixed (1 - t, t). A small network sees
both moved frames, how far they disagree, the flows and t, at ``scale`` of the source size (motion
estimation needs context more than resolution), and outputs, upsampled to the source size:

- a residual of each flow (where DIS is wrong: motion boundaries, large or thin motion),
- a residual of the mixing weight (occlusions: trust the frame that sees the pixel),
- a residual image (what neither frame shows well).

Its last layer starts at zero, so an untrained model gives exactly the base, bit for bit (the weights
are (1 - t) + Δ and t - Δ, computed from t in float64 as the base's are); training only adds. At t = 0
and 1 the engine returns the source frames. Every operation exports to ONNX; the flow itself is
computed outside the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vsinr.nn import check_config
from vsinr.nn.blocks import ResBlock, zero_head
from vsinr.ops import flow

#: The ``kind`` a weights file's header records for this architecture.
KIND = "interp"


@dataclass(frozen=True)
class FlowInterpConfig:
    """The network's sizes, recorded in a weights file's header: width ``nf``, residual ``blocks`` at each
    of two resolutions, and the ``scale`` (of the source size) it works at."""

    nf: int = 24
    blocks: int = 2
    scale: float = 0.5

    def __post_init__(self) -> None:
        check_config({"nf": self.nf}, blocks={"blocks": self.blocks})
        if self.scale not in (0.25, 0.5, 1.0):
            raise TypeError(f"scale must be 0.25, 0.5 or 1, got {self.scale!r}")

    def header(self) -> dict:
        """The configuration as a weights file's header records it."""
        return {"kind": KIND, "nf": self.nf, "blocks": self.blocks, "scale": self.scale}


#: Named configurations: the shipped default and one for tests.
CONFIGS: dict[str, FlowInterpConfig] = {
    "interp": FlowInterpConfig(),
    "interp_tiny": FlowInterpConfig(nf=8, blocks=1),
}
#: Flows enter the network in units of this many pixels (typical motion), so inputs stay near 1.
FLOW_UNIT = 8.0


class FlowInterp(nn.Module):
    """Residual flows, mixing weight and image over the motion-compensated blend of a frame pair."""

    def __init__(self, config: FlowInterpConfig = CONFIGS["interp"]):
        super().__init__()
        nf = config.nf
        self.scale = config.scale
        self.config = config.header()
        # both moved frames, their absolute difference, both flows from t, and t
        self.head = nn.Conv2d(3 + 3 + 3 + 4 + 1, nf, 3, padding=1)
        self.fine = nn.Sequential(*[ResBlock(nf, "leaky") for _ in range(config.blocks)])
        self.down = nn.Conv2d(nf, 2 * nf, 3, stride=2, padding=1)
        self.coarse = nn.Sequential(*[ResBlock(2 * nf, "leaky") for _ in range(config.blocks)])
        self.up = nn.Conv2d(2 * nf, nf, 3, padding=1)
        # Δ flow from t to frame 0 and to frame 1 (4), Δ mixing weight (1), Δ image (3)
        self.tail = zero_head(nn.Conv2d(nf, 8, 3, padding=1))

    def forward(self, a: torch.Tensor, b: torch.Tensor, f01: torch.Tensor, f10: torch.Tensor,
                t: torch.Tensor) -> torch.Tensor:
        """The frame (N, 3, H, W) at times ``t`` (N,; float64 keeps the base exact) between ``a`` and ``b``
        (N, 3, H, W), given DIS flows ``f01`` (a → b) and ``f10`` (b → a) (N, 2, H, W) in pixels."""
        s = t.to(torch.float64).view(-1, 1, 1, 1)
        to0, to1 = (c0.to(f01.dtype) * f01 + c1.to(f01.dtype) * f10 for c0, c1 in (
            (-(1 - s) * s, s * s), ((1 - s) ** 2, -s * (1 - s))))
        a_t, b_t = flow.warp(a, to0), flow.warp(b, to1)
        wa, wb = (1 - s).to(a.dtype), s.to(a.dtype)
        delta = self._residuals(a_t, b_t, to0, to1, s.to(a.dtype))
        if delta is None:
            return wa * a_t + wb * b_t
        d0, d1 = delta[:, 0:2] * FLOW_UNIT, delta[:, 2:4] * FLOW_UNIT
        a_t, b_t = flow.warp(a, to0 + d0), flow.warp(b, to1 + d1)
        dw = delta[:, 4:5]
        return (wa + dw) * a_t + (wb - dw) * b_t + delta[:, 5:8]

    def _residuals(self, a_t: torch.Tensor, b_t: torch.Tensor, to0: torch.Tensor, to1: torch.Tensor,
                   s: torch.Tensor) -> torch.Tensor | None:
        """The network's residuals at the source size (N, 8, H, W); None for an untrained model, whose
        residuals are zero (the base without the network's cost)."""
        if not self.training and not any(bool(p.any()) for p in self.tail.parameters()):
            return None
        height, width = a_t.shape[-2:]
        x = torch.cat([a_t, b_t, (a_t - b_t).abs(), to0 / FLOW_UNIT, to1 / FLOW_UNIT, s.expand(-1, 1, height, width)], 1)
        if self.scale != 1:
            x = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False, antialias=True)
        feat = F.leaky_relu(self.head(x), 0.1)
        feat = self.fine(feat)
        deep = self.coarse(F.leaky_relu(self.down(feat), 0.1))
        up = F.interpolate(deep, size=feat.shape[-2:], mode="bilinear", align_corners=False)
        feat = feat + F.leaky_relu(self.up(up), 0.1)
        delta = self.tail(feat)
        if self.scale != 1:
            delta = F.interpolate(delta, size=(height, width), mode="bilinear", align_corners=False)
        return delta
