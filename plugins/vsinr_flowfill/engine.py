"""The host's windowed engine for flowfill: windows of frames with their holes, each frame's holes filled
by flow-guided propagation (``propagate``) and corrected by the network (``model``) where it is trained.

A window holds ``radius`` frames before the frames it serves and ``radius`` after; its flows are
computed once for all of them. The network runs on boxes around each hole (a margin of context, sides
multiples of 4), so its cost follows the holes' area; each hole pixel is written by its own box only.
Pixels outside the holes are the source's (the host restores them bit for bit).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vsinr.host.methods import Layout
from vsinr.ops import holes
from vsinr.runtime import backends, devices, weights
from vsinr_flowfill import propagate
from vsinr_flowfill.model import INPUTS, KIND, MULTIPLE, FillNet, FillNetConfig

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "flowfill.safetensors"
FAMILY = (weights.Architecture(KIND, lambda config: FillNet(FillNetConfig(**config))),)
#: Frames served by one window (its flows are shared by all of them).
STEP = 8
#: Pixels of context around a hole that the network sees.
MARGIN = 16


def part(model: FillNet) -> backends.Part:
    """The network as a part for a runtime (``vsinr.runtime.backends``)."""
    layout = ("3 the flow-guided fill (the base), 3 + 3 RGB of the candidates from the frames before and after "
              "(the base where none was found), 2 their mixing weights, 2 whether each was found, 2 the flows' "
              "forward-backward mismatch along the way (/4 px, at most 4), 1 the holes, 1 the pixels no frame "
              "showed; sides multiples of 4; out: the corrected fill")
    return backends.Part("flowfill", model, INPUTS, layout, {"vsinr_config": json.dumps(model.config)})


def load_model(path: str | Path = "") -> FillNet:
    """The network with weights from ``path`` (empty: the shipped file, where there is one)."""
    if not path and not DEFAULT_WEIGHTS.exists():
        raise weights.WeightsError("flowfill ships no trained weights: refine=1 needs weights= a file from "
                                   "`vsinr train flowfill` (refine=0, the default, needs none)")
    model = weights.load_model(Path(path) if path else DEFAULT_WEIGHTS, "flowfill", FAMILY)
    assert isinstance(model, FillNet)
    return model


def boxes(hole: torch.Tensor, margin: int = MARGIN) -> list[tuple[slice, slice, torch.Tensor]]:
    """For each group of holes whose boxes, grown by ``margin``, overlap, in an (H, W) bool map: the
    grown box (rows, columns; sides grown on to multiples of ``MULTIPLE`` where the frame allows) and
    which pixels of it are that group's holes."""
    from scipy import ndimage

    mask = hole.cpu().numpy()
    labels, count = ndimage.label(mask)
    height, width = mask.shape
    groups = [([i], [s.start - margin, s.stop + margin, c.start - margin, c.stop + margin])
              for i, (s, c) in enumerate(ndimage.find_objects(labels), start=1)]
    merged = True
    while merged:  # join groups whose grown boxes overlap, until none do
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                (ia, ba), (ib, bb) = groups[a], groups[b]
                if ba[0] < bb[1] and bb[0] < ba[1] and ba[2] < bb[3] and bb[2] < ba[3]:
                    groups[a] = (ia + ib, [min(ba[0], bb[0]), max(ba[1], bb[1]), min(ba[2], bb[2]), max(ba[3], bb[3])])
                    del groups[b]
                    merged = True
                    break
            if merged:
                break
    found = []
    for members, (y0, y1, x0, x1) in groups:
        spans = []
        for lo, hi, size in ((y0, y1, height), (x0, x1, width)):
            lo, hi = max(0, lo), min(size, hi)
            length = min(size, -(-(hi - lo) // MULTIPLE) * MULTIPLE)
            start = max(0, min(lo, size - length))
            spans.append(slice(start, start + length))
        own = np.isin(labels[spans[0], spans[1]], members)
        found.append((spans[0], spans[1], torch.from_numpy(own).to(hole.device)))
    return found


def correct(model: Callable[[torch.Tensor], torch.Tensor], planes: torch.Tensor) -> torch.Tensor:
    """The base (``planes[:3]``) with the network's correction in every hole, box by box (one call per
    box: a box's result never depends on the others)."""
    out = planes[:3].clone()
    hole = planes[-2] > 0
    for rows, cols, own in boxes(hole):
        x = planes[:, rows, cols][None]
        pad_h, pad_w = -x.shape[-2] % MULTIPLE, -x.shape[-1] % MULTIPLE  # a frame side not a multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        y = model(x)[0, :, : own.shape[0], : own.shape[1]]
        region = out[:, rows, cols]
        region[:, own] = y[:, own]
    return out


class FlowFillEngine:
    """Windows of ``2 * radius + STEP`` frames, serving ``STEP`` frames each (``vsinr.host.methods.WindowedEngine``,
    with Inpaint's masks)."""

    def __init__(self, model: FillNet | None, device: str, radius: int, precision: str = "fp32", backend: str = "torch"):
        self.model: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.backend = "torch"
        if model is not None and model.trained():
            self.backend = backends.choose(backend, device, precision)
            self.model = backends.network(part(model.to(device).eval()), self.backend, device, precision=precision)
        self.device = torch.device(device)
        self.precision = precision
        self.radius = radius
        # the window's frames, flows (4 floats per pixel per frame) and a frame's planes, per output pixel
        window = 2 * radius + STEP
        self.layout = Layout(window=window, step=STEP, lead=radius, bytes_per_out_pixel=4 * (window * 8 + 2 * 20))
        self._laplace = holes.LaplaceFill(np.zeros((1, 1), bool))

    def render(self, frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor],
               cuts: frozenset[int] = frozenset(), masks: Sequence[torch.Tensor] | None = None) -> None:
        if masks is None:
            raise ValueError("flowfill fills the holes of a mask: it serves Inpaint only")
        window = propagate.prepare(torch.stack(list(frames)), torch.stack(list(masks)), cuts, laplace=self._laplace)
        with torch.inference_mode(), devices.autocast(self.device.type, self.precision):
            for t, target in zip(times, out, strict=True):
                n = round(t)
                if not bool(window.holes[n].any()):
                    target.copy_(frames[n])
                    continue
                planes = propagate.frame_planes(window, n, self.radius, self._laplace)
                filled = planes[:3] if self.model is None else correct(self.model, planes)
                target.copy_(filled.clamp_(0, 1))
