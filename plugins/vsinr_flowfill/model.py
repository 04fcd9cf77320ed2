"""flowfill's network: corrects the flow-guided fill of a frame's holes from what it was made of.

It sees, at the source size, the base (``propagate.base``: candidates from the frames before and after
mixed, Laplace fill where no frame showed the pixel), both candidates with their mixing weights, where
they were found, how far the flows along the way disagreed, the holes and the pixels no frame showed,
and outputs a residual image for the hole pixels. Three resolutions (full, 1/2, 1/4; most of the work at the coarser two) give it a
receptive field wider than a 50-pixel hole. Its last layer starts at zero, so an untrained model
returns the base, bit for bit; training only adds. Every operation exports to ONNX.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vsinr.nn import check_config
from vsinr.nn.blocks import ResBlock, zero_head

#: The ``kind`` a weights file's header records for this architecture.
KIND = "fill"
#: Input planes: base (3), each side's candidate (3 + 3), weight (2), found (2), mismatch (2), holes, unseen.
INPUTS = 3 + 6 + 2 + 2 + 2 + 1 + 1
#: The network's input sides are multiples of this (two halvings).
MULTIPLE = 4
#: Flow mismatches enter the network in units of this many pixels.
MISMATCH_UNIT = 4.0


@dataclass(frozen=True)
class FillNetConfig:
    """The network's sizes, recorded in a weights file's header: width ``nf`` at the source size (one
    residual block there) and twice that, with ``blocks`` residual blocks each, at 1/2 and 1/4, where
    the cost per pixel is a quarter and a sixteenth."""

    nf: int = 16
    blocks: int = 2

    def __post_init__(self) -> None:
        check_config({"nf": self.nf}, blocks={"blocks": self.blocks})

    def header(self) -> dict:
        """The configuration as a weights file's header records it."""
        return {"kind": KIND, "nf": self.nf, "blocks": self.blocks}


#: Named configurations: the shipped default and one for tests.
CONFIGS: dict[str, FillNetConfig] = {"fill": FillNetConfig(), "fill_tiny": FillNetConfig(nf=4, blocks=1)}


class FillNet(nn.Module):
    """A residual for the hole pixels of the flow-guided fill (``forward``)."""

    def __init__(self, config: FillNetConfig = CONFIGS["fill"]):
        super().__init__()
        nf = config.nf
        self.config = config.header()
        self.head = nn.Conv2d(INPUTS, nf, 3, padding=1)
        self.fine = ResBlock(nf, "leaky")
        self.down1 = nn.Conv2d(nf, 2 * nf, 3, stride=2, padding=1)
        self.mid = nn.Sequential(*[ResBlock(2 * nf, "leaky") for _ in range(config.blocks)])
        self.down2 = nn.Conv2d(2 * nf, 2 * nf, 3, stride=2, padding=1)
        self.coarse = nn.Sequential(*[ResBlock(2 * nf, "leaky") for _ in range(config.blocks)])
        self.up2 = nn.Conv2d(2 * nf, 2 * nf, 3, padding=1)
        self.up1 = nn.Conv2d(2 * nf, nf, 3, padding=1)
        self.tail = zero_head(nn.Conv2d(nf, 3, 3, padding=1))

    def trained(self) -> bool:
        """False while the output layer is zero (the network adds nothing; engines skip it)."""
        return any(bool(p.any()) for p in self.tail.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The corrected fill (N, 3, H, W) from inputs ``x`` (N, INPUTS, H, W; H and W multiples of
        ``MULTIPLE``, built by ``inputs``): the base plus the residual inside the holes."""
        base, hole = x[:, :3], x[:, INPUTS - 2 : INPUTS - 1]
        feat = self.fine(F.leaky_relu(self.head(x), 0.1))
        mid = self.mid(F.leaky_relu(self.down1(feat), 0.1))
        deep = self.coarse(F.leaky_relu(self.down2(mid), 0.1))
        mid = mid + F.leaky_relu(self.up2(F.interpolate(deep, size=mid.shape[-2:], mode="bilinear", align_corners=False)), 0.1)
        feat = feat + F.leaky_relu(self.up1(F.interpolate(mid, size=feat.shape[-2:], mode="bilinear", align_corners=False)), 0.1)
        return base + self.tail(feat) * hole


def inputs(base: torch.Tensor, values: torch.Tensor, weights: torch.Tensor, found: torch.Tensor,
           mismatch: torch.Tensor, hole: torch.Tensor, unseen: torch.Tensor) -> torch.Tensor:
    """The network's input planes (INPUTS, H, W) for one frame from full-frame maps: ``base`` (3, H, W),
    each side's candidate ``values`` (2, 3, H, W; the base where not found), ``weights`` (2, H, W; of the
    mix, summing to 1 where anything was found), ``found`` and ``mismatch`` (2, H, W), ``hole`` and
    ``unseen`` (H, W)."""
    return torch.cat([base, values.flatten(0, 1), weights, found.to(base.dtype), (mismatch / MISMATCH_UNIT).clamp(0, 4),
                      hole[None].to(base.dtype), unseen[None].to(base.dtype)])
