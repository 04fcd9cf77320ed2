"""VideoINR's flow-guided configuration: classical motion, a learned continuous-scale spatial field.

The released VideoINR learns everything: features, a temporal field of flows, the RGB decoder. With the
compute this project has (CPU hours, not GPU days) those flows do not get learned. Here the temporal
field is DIS optical flow (``vsinr.ops.flow``, no weights) and the network learns what flow and resampling
miss:

1. both source frames are moved to time t along the flow at the source size (``vsinr.ops.flow.between``'s
   intermediate flows), giving two aligned frames ``a_t`` and ``b_t``;
2. a small convolutional encoder sees both (and t) at the source size and makes a feature map;
3. a spatial implicit field decodes any output pixel, at any scale: an MLP (1×1 convolutions) reads the
   feature map bilinearly at the pixel's position, with its offset from the nearest source pixel centre
   and the scale, and predicts a correction to the fixed base: the bicubic upsampling of
   (1 - t)·a_t + t·b_t.

The MLP's last layer starts at zero, so an untrained model is exactly its base, a motion-compensated
blend then bicubic; training only adds. ``scales`` (in the weights header) is the range of spatial scales
the correction was trained for; outside it the model returns its base alone rather than extrapolate. Every operation exports to ONNX (convolutions,
``grid_sample``).
The flow itself is computed outside the network (``FlowINREngine``), on whole frames.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vsinr.nn import check_config
from vsinr.nn.blocks import ResBlock, zero_head
from vsinr.nn.pointwise import Pointwise
from vsinr.runtime.backends import Method, Part

#: The ``kind`` a weights file's header records for this architecture.
KIND = "flow"


@dataclass(frozen=True)
class FlowINRConfig:
    """The network's sizes, recorded in a weights file's header: encoder width ``nf`` and residual
    ``blocks``, the decoder MLP's ``hidden`` width, and the range of spatial ``scales`` it corrects."""

    nf: int = 32
    blocks: int = 4
    hidden: int = 48
    scales: tuple[float, float] = (1.0, 4.0)

    def __post_init__(self) -> None:
        check_config({"nf": self.nf, "hidden": self.hidden}, blocks={"blocks": self.blocks})
        try:
            low, high = (float(s) for s in self.scales)
        except (TypeError, ValueError):
            raise TypeError(f"scales must be [low, high], got {self.scales!r}") from None
        if not 0 < low <= high:
            raise TypeError(f"scales must be [low, high] with 0 < low <= high, got {self.scales!r}")
        object.__setattr__(self, "scales", (low, high))

    def header(self) -> dict:
        """The configuration as a weights file's header records it."""
        return {"kind": KIND, "nf": self.nf, "blocks": self.blocks, "hidden": self.hidden, "scales": list(self.scales)}


#: Named configurations: the shipped default and one for tests.
CONFIGS: dict[str, FlowINRConfig] = {
    "flow": FlowINRConfig(),
    "flow_tiny": FlowINRConfig(nf=8, blocks=1, hidden=8),
}


class FlowINR(nn.Module):
    """Encoder at the source size + spatial MLP at the output size, correcting a flow-warped bicubic base."""

    def __init__(self, config: FlowINRConfig = CONFIGS["flow"]):
        super().__init__()
        nf, hidden = config.nf, config.hidden
        self.scales = config.scales
        self.config = config.header()
        self.head = nn.Conv2d(7, nf, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(nf) for _ in range(config.blocks)])
        # per output pixel: features, base RGB, offset (y, x) from the nearest source pixel, 1/scale (y, x)
        self.decoder = nn.Sequential(
            Pointwise(nf + 3 + 4, hidden), nn.ReLU(),
            Pointwise(hidden, hidden), nn.ReLU(),
            zero_head(Pointwise(hidden, 3)),
        )

    def encode(self, a_t: torch.Tensor, b_t: torch.Tensor, t: torch.Tensor,
               encoder: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """Features (B, nf, h, w) of the two frames moved to time ``t`` (B,) along the flow; ``encoder``
        runs the encoder part (``parts``) elsewhere, e.g. in ONNX Runtime."""
        time = t.view(-1, 1, 1, 1).to(a_t.dtype).expand(-1, 1, *a_t.shape[-2:])
        return (encoder or self._encoder)(torch.cat([a_t, b_t, time], 1))

    def _encoder(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        return x + self.body(x)

    def parts(self) -> tuple[Part, Part]:
        """The encoder and the decoder as network parts (``vsinr.runtime.backends``)."""
        meta = {"vsinr_config": json.dumps(self.config)}
        nf = self.head.out_channels
        return (Part("videoinr_flow_encoder", Method(self, "_encoder"), 7,
                     "3 RGB of frame a and 3 of frame b, both moved to time t along DIS flow, 1 the time t; "
                     f"out: {nf} features at the source size", meta),
                Part("videoinr_flow_decoder", self.decoder, nf + 7,
                     f"{nf} features and 3 RGB of the bicubic base, sampled at each output pixel, 2 its offset "
                     "(y, x) from the nearest source pixel, 2 the inverse scales (y, x); out: the RGB correction, "
                     "per pixel", meta))

    def decode(self, feat: torch.Tensor | None, a_t: torch.Tensor, b_t: torch.Tensor, t: torch.Tensor,
               size: tuple[int, int], rows: int = 0,
               decoder: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """The frame (B, 3, H, W) at ``size`` from ``encode``'s features (None where ``corrects`` is
        False: only the base is decoded); ``rows`` > 0 decodes that many output rows at a time (bounded
        memory, same result); ``decoder`` runs the decoder part elsewhere."""
        h, w = a_t.shape[-2:]
        out_h, out_w = size
        t = t.view(-1, 1, 1, 1).to(a_t.dtype)
        blend = torch.lerp(a_t, b_t, t)
        step = rows if rows > 0 else out_h
        correct = self.corrects(out_h / h, out_w / w)
        if correct and feat is None:
            raise ValueError("decoding a correction needs encode()'s features")
        bands = [self._band(feat, blend, (h, w), (out_h, out_w), y0, min(out_h, y0 + step), correct, decoder or self.decoder)
                 for y0 in range(0, out_h, step)]
        return torch.cat(bands, 2) if len(bands) > 1 else bands[0]

    def corrects(self, scale_y: float, scale_x: float) -> bool:
        """Whether the learned correction applies at these scales (inside the trained range, give or
        take the rounding of patch sizes)."""
        low, high = self.scales
        return all(low - 0.02 <= s <= high + 0.02 for s in (scale_y, scale_x))

    def _band(self, feat: torch.Tensor | None, blend: torch.Tensor, src: tuple[int, int], size: tuple[int, int],
              y0: int, y1: int, correct: bool, decoder: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        (h, w), (out_h, out_w) = src, size
        dev, dt = blend.device, blend.dtype
        # output pixel centres in source pixel units (align_corners=False convention)
        ys = (torch.arange(y0, y1, device=dev, dtype=torch.float32) + 0.5) * (h / out_h) - 0.5
        xs = (torch.arange(out_w, device=dev, dtype=torch.float32) + 0.5) * (w / out_w) - 0.5
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([(gx + 0.5) * (2 / w) - 1, (gy + 0.5) * (2 / h) - 1], -1)
        grid = grid.to(dt).unsqueeze(0).expand(blend.shape[0], -1, -1, -1)
        base = F.grid_sample(blend, grid, mode="bicubic", padding_mode="border", align_corners=False)
        if not correct:
            return base
        assert feat is not None  # decode() refuses a correction without features
        sampled = F.grid_sample(feat, grid, mode="bilinear", padding_mode="border", align_corners=False)
        offset = torch.stack([gy - gy.round(), gx - gx.round()]).to(dt)  # in [-0.5, 0.5]
        inv = torch.tensor([h / out_h, w / out_w], device=dev, dtype=dt).view(2, 1, 1).expand(2, *gy.shape)
        extra = torch.cat([offset, inv]).unsqueeze(0).expand(blend.shape[0], -1, -1, -1)
        return base + decoder(torch.cat([sampled, base, extra], 1))

    def forward(self, a_t: torch.Tensor, b_t: torch.Tensor, t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = a_t.shape[-2:]
        feat = self.encode(a_t, b_t, t) if self.corrects(size[0] / h, size[1] / w) else None
        return self.decode(feat, a_t, b_t, t, size)
