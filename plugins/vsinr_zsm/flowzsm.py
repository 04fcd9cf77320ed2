"""ZSM's flow-guided configurations: classical alignment, learned fusion, repair and upscaling.

The released Zooming SlowMo aligns neighbouring frames with learned deformable convolutions (PCD) and
fuses them with a deformable ConvLSTM; trained for minutes on a CPU, neither learns anything. Here the
alignment is DIS optical flow (``vsinr.ops.flow``, no weights) and a small network learns what a classical
temporal filter misses. ``scale`` 1 restores each frame (Denoise); ``scale`` 4 makes ×4 ×2 space-time
super-resolution (STVSR), from clean or damaged input. Each output frame is made from 2·radius + 1
slots around its time:

1. a prefilter: for impulse noise (``prefilter="impulse"``), pixels that are black or white in every
   channel are replaced by the 3×3 median (a switching median: other pixels keep their detail), and the
   3×3 median of every frame guides the flow; otherwise the frames are used as they are;
2. the centre slot: the source frame itself, or, for an output halfway between source frames c and
   c + 1, the two moved to the middle along their DIS flows and averaged (``midway``); the other slots
   are the source frames around it (c - radius … c + radius, or c - radius + 1 … c + radius), each
   moved onto the centre along the DIS flow between the guides (``onto``, ``window_inputs``);
3. the fixed base: a temporal average of the slots, each neighbour weighted by exp(-d/spread²), d being
   the mean squared guide difference to the centre over 5×5 pixels, so that occlusions and flow failures
   fall back on the centre (frames across a marked scene change are never used: ``slot_order`` repeats
   the shot's end frame instead), then, at ``scale`` 4, bicubic upsampling;
4. a convolutional network at the source size sees the slots, the base, the weights, the impulse mask
   (and, at ``scale`` 4, whether the output is halfway) and adds a correction to the base (at ``scale``
   4 through a pixel shuffle). Its last layer starts at zero, so an untrained model is exactly its base.

Every operation of the network exports to ONNX (convolutions, pooling, bicubic resize, pixel shuffle);
the flow is computed outside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vsinr.nn import check_config
from vsinr.nn.blocks import ResBlock, in_bands, median3, zero_head
from vsinr.ops import flow
from vsinr.runtime.backends import Method, Part

SCALES = (1, 4)
PREFILTERS = ("impulse", "none")

#: The ``kind`` a weights file's header records for this architecture.
KIND = "flow"


@dataclass(frozen=True)
class FlowZSMConfig:
    """The network's configuration, recorded in a weights file's header: the window ``radius`` (2·radius
    + 1 frames), width ``nf`` and residual ``blocks``, the ``prefilter`` for impulse noise, the
    ``spread`` of the weights that trust a neighbour where it agrees with the centre, and the ``scale``
    (1: restoration; 4: ×4 ×2 space-time SR)."""

    radius: int = 2
    nf: int = 32
    blocks: int = 4
    prefilter: str = "impulse"
    spread: float = 0.06
    scale: int = 1

    def __post_init__(self) -> None:
        check_config({"nf": self.nf}, blocks={"blocks": self.blocks})
        if not (isinstance(self.radius, int) and 1 <= self.radius <= 4):
            raise TypeError(f"radius must be an integer from 1 to 4, got {self.radius!r}")
        if self.prefilter not in PREFILTERS:
            raise TypeError(f"prefilter must be one of {PREFILTERS}, got {self.prefilter!r}")
        if not 0 < float(self.spread) < 1:
            raise TypeError(f"spread must be in (0, 1), got {self.spread!r}")
        if self.scale not in SCALES:
            raise TypeError(f"scale must be one of {SCALES}, got {self.scale!r}")
        object.__setattr__(self, "spread", float(self.spread))

    def header(self) -> dict:
        """The configuration as a weights file's header records it."""
        return {"kind": KIND, "radius": self.radius, "nf": self.nf, "blocks": self.blocks, "prefilter": self.prefilter,
                "spread": self.spread, "scale": self.scale}


#: Named configurations: the shipped defaults (×1 restoration and ×4 ×2, per degradation) and two for tests.
CONFIGS: dict[str, FlowZSMConfig] = {
    "flow_noise": FlowZSMConfig(prefilter="impulse", spread=0.06),
    "flow_jpeg": FlowZSMConfig(prefilter="none", spread=0.05),
    "flow_tiny": FlowZSMConfig(radius=1, nf=8, blocks=1),
    "flow_x4": FlowZSMConfig(prefilter="none", spread=0.005, scale=4),
    "flow_x4_noise": FlowZSMConfig(prefilter="impulse", spread=0.06, scale=4),
    "flow_x4_jpeg": FlowZSMConfig(prefilter="none", spread=0.08, scale=4),
    "flow_x4_tiny": FlowZSMConfig(radius=1, nf=8, blocks=1, scale=4),
}


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (radius,) * 4, mode="replicate"), 2 * radius + 1, 1)


class FlowZSM(nn.Module):
    """The frame at a window's centre slot, restored (``scale`` 1) or ×4 (``scale`` 4) from aligned slots:
    flow-weighted temporal average (upsampled) + learned correction."""

    def __init__(self, config: FlowZSMConfig = CONFIGS["flow_noise"]):
        super().__init__()
        radius, nf, scale = config.radius, config.nf, config.scale
        self.radius, self.prefilter, self.spread, self.scale = radius, config.prefilter, config.spread, scale
        self.config = config.header()
        slots = 2 * radius + 1
        # aligned frames, the base, each neighbour's weight, the centre's impulse mask (and the halfway flag)
        self.head = nn.Conv2d(3 * slots + 3 + (slots - 1) + 1 + (scale > 1), nf, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(nf, "leaky") for _ in range(config.blocks)])
        self.tail = zero_head(nn.Conv2d(nf, 3 * scale * scale, 3, padding=1))
        #: input context of each output pixel, in pixels (what a band of rows needs around it)
        self.halo = 2 * config.blocks + 2

    @property
    def slots(self) -> int:
        return 2 * self.radius + 1

    @property
    def window(self) -> int:
        """Source frames an engine's window holds: the slots, and one more for halfway outputs at ×4 ×2."""
        return self.slots + (self.scale > 1)

    def prepare(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Prefiltered frames, flow guides and impulse masks (N, 1, H, W) of degraded frames (N, 3, H, W),
        finite (the bridge reads pixels that are not finite as black or white, and the impulse prefilter
        then replaces them)."""
        if self.prefilter == "none":
            return frames, frames, frames.new_zeros(frames.shape[0], 1, *frames.shape[-2:])
        smooth = median3(frames)
        hit = ((frames <= 0.5 / 255).all(1, keepdim=True) | (frames >= 254.5 / 255).all(1, keepdim=True))
        hit = hit.to(frames.dtype)
        return torch.lerp(frames, smooth, hit), smooth, hit

    def forward(self, slots: torch.Tensor, guides: torch.Tensor, hit: torch.Tensor, rows: int = 0,
                halfway: torch.Tensor | None = None,
                correction: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """The output (B, 3, scale·H, scale·W) from ``window_inputs``' slots and guides (B, S, 3, H, W),
        centre at slot ``radius``, and the centre's impulse mask (B, 1, H, W); ``halfway`` (B,), at scale
        4, is 1 where the centre lies between source frames; ``rows`` > 0 runs the network on that many
        rows at a time (bounded memory, same result); ``correction`` runs the network part (``part``)
        elsewhere, e.g. in ONNX Runtime (``vsinr.runtime.backends``)."""
        c = self.radius
        centre = guides[:, c : c + 1]
        others = torch.cat([guides[:, :c], guides[:, c + 1 :]], 1)
        distance = _box(((others - centre) ** 2).mean(2), 2)  # (B, S-1, H, W)
        weight = torch.exp(-distance / self.spread**2)
        frames = torch.cat([slots[:, :c], slots[:, c + 1 :]], 1)
        base = (slots[:, c] + (weight.unsqueeze(2) * frames).sum(1)) / (1 + weight.sum(1, keepdim=True))
        planes = [slots.flatten(1, 2), base, weight, hit]
        if self.scale > 1:
            flag = halfway if halfway is not None else hit.new_zeros(hit.shape[0])
            planes.append(flag.to(hit).view(-1, 1, 1, 1).expand_as(hit))  # hit's device and dtype
            base = F.interpolate(base, scale_factor=self.scale, mode="bicubic", align_corners=False)
        x = torch.cat(planes, 1)
        return base + in_bands(correction or self._correction, x, rows, self.halo, self.scale)

    def part(self) -> Part:
        """The learned correction as a network part: all input planes in, the correction out."""
        slots = self.slots
        layout = (f"{3 * slots} RGB of the {slots} frames moved onto the centre (slot {self.radius} is the centre), "
                  f"3 the flow-weighted base, {slots - 1} the neighbours' weights, 1 the centre's impulse mask"
                  + (", 1 the halfway flag (1: the output lies between source frames)" if self.scale > 1 else "")
                  + f"; out: the correction, {self.scale}x the input size, added to the base"
                  + (" upscaled bicubically" if self.scale > 1 else ""))
        name = f"zsm_x{self.scale}" + ("_impulse" if self.prefilter == "impulse" else "")
        return Part(name, Method(self, "_correction"), self.head.in_channels, layout,
                    {"vsinr_config": json.dumps(self.config)})

    def _correction(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.leaky_relu(self.head(x), 0.1)  # leaky: a dead unit would stop learning for good
        correction = self.tail(feat + self.body(feat))
        return F.pixel_shuffle(correction, self.scale) if self.scale > 1 else correction


def slot_order(centre: int, count: int, radius: int, cuts: frozenset[int] = frozenset(),
               halfway: bool = False) -> list[int]:
    """Window indices of the source frames around ``centre`` in a window of ``count`` frames: centre ±
    radius (``halfway``: centre - radius + 1 … centre + radius, around the middle of centre and
    centre + 1), repeating the first or last frame of the centre's shot where the window or the shot
    ends (``cuts``: indices i with a scene change between frames i and i + 1)."""
    first = max((i + 1 for i in cuts if i < centre), default=0)
    last = min((i for i in cuts if i >= centre + halfway), default=count - 1)
    return [min(max(centre + i, first), last) for i in range(-radius + halfway, radius + 1)]


def onto(frame: torch.Tensor, guide: torch.Tensor, prefiltered: torch.Tensor, guides: torch.Tensor,
         order: Sequence[int], itself: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames and guides of ``order`` (window indices) moved onto ``frame`` along DIS flow from ``guide`` to
    each one's guide, each (len(order), 3, H, W); index ``itself`` is ``frame`` and stays as it is. Flow is
    estimated once per distinct index."""
    target = flow.gray8(guide)
    moved: dict[int, tuple[torch.Tensor, torch.Tensor]] = {} if itself is None else {itself: (frame, guide)}
    for i in order:
        if i in moved:
            continue
        pixels = flow.flow(target, flow.gray8(guides[i]))
        f = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None].to(guides.device, guides.dtype)
        both = flow.warp(torch.stack([prefiltered[i], guides[i]]), f.expand(2, -1, -1, -1))
        moved[i] = (both[0], both[1])
    return torch.stack([moved[i][0] for i in order]), torch.stack([moved[i][1] for i in order])


def midway(prefiltered: torch.Tensor, guides: torch.Tensor, hit: torch.Tensor, left: int
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frame, guide and impulse mask halfway between window frames ``left`` and ``left + 1``: both moved to
    the middle along the DIS flows between their guides, and averaged."""
    f01, f10 = flow.pair(guides[left], guides[left + 1])
    planes = torch.cat([prefiltered, guides, hit], 1)
    mixed = flow.between(planes[left : left + 1], planes[left + 1 : left + 2], f01.to(planes.dtype), f10.to(planes.dtype), 0.5)[0]
    return mixed[:3], mixed[3:6], mixed[6:]


def window_inputs(prefiltered: torch.Tensor, guides: torch.Tensor, hit: torch.Tensor, centre: int, radius: int,
                  halfway: bool = False, cuts: frozenset[int] = frozenset()
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """What ``FlowZSM`` takes for the output at window frame ``centre`` (``halfway``: between it and the
    next), from ``FlowZSM.prepare``'s outputs for the window (N, ·, H, W): slots and guides (S, 3, H, W),
    the centre's impulse mask (1, H, W), and whether the output is halfway. Across a scene change or past
    the window's end nothing is made halfway: the output is frame ``centre``'s own, as everywhere in
    vsinr."""
    halfway = halfway and centre + 1 < len(prefiltered) and centre not in cuts
    order = slot_order(centre, len(prefiltered), radius, cuts, halfway)
    if not halfway:
        slots, moved = onto(prefiltered[centre], guides[centre], prefiltered, guides, order, itself=centre)
        return slots, moved, hit[centre], False
    frame, guide, mask = midway(prefiltered, guides, hit, centre)
    slots, moved = onto(frame, guide, prefiltered, guides, order)
    slots = torch.cat([slots[:radius], frame[None], slots[radius:]])
    moved = torch.cat([moved[:radius], guide[None], moved[radius:]])
    return slots, moved, mask, True
