"""Flow-guided propagation, flowfill's fixed base: what the other frames of a window show of each hole.

For a window of frames and their holes (1: to be filled):

1. at ``flow_scale`` of the frame size, each frame's holes are Laplace-filled
   (``vsinr.ops.holes.fill``) so that DIS sees no edges that are not in the scene, and DIS flow
   (``vsinr.ops.flow.pair``) is computed between consecutive frames, both ways;
2. each flow is *completed*: inside the holes of both frames (dilated: DIS spreads errors a few
   pixels), where it matches a fill rather than the scene, it is replaced by the Laplace fill of the
   flow around them (the motion of a hole is smooth; its border tells it);
3. every hole pixel of a frame is followed along the chained flows to the frames before and after it,
   one step at a time up to ``radius`` frames, never across a scene change; the first frame in each
   direction where it lands on a known pixel gives a candidate value, with its distance in frames and
   the forward-backward mismatch of the flows along the way (a confidence);
4. the candidates are mixed with weights 1 / (distance · (1 + mismatch²)); pixels that no frame shows
   are Laplace-filled from everything around them, known or propagated.

Only hole pixels are followed (lists of points, not whole frames), so the cost grows with the area of
the holes, not of the frame. Everything but DIS and the sparse Laplace solve runs on the frames' device.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vsinr.ops import flow, holes
from vsinr_flowfill.model import inputs

#: Pixels (at the flow's scale) around a hole whose flow is completed too: DIS's 8-pixel patches
#: straddle the hole's edge (6: 0.5 dB above 4 inside the holes of the held-out windows).
FLOW_MARGIN = 6
#: Pixels around a hole that do not give candidates (bilinear reads there touch the fill).
READ_MARGIN = 1
#: How candidates are read (bilinear: 0.2 dB above the nearest pixel inside the holes of the training
#: material's held-out windows, scripts/flowfill_base.py).
VALUES = "bilinear"


@dataclass
class Window:
    """A window's frames (T, 3, H, W), holes (T, 1, H, W; bool), completed flows between consecutive
    frames (``forward[t]``: t → t+1, ``backward[t]``: t+1 → t; (T-1, 2, H, W) pixels) and the local
    indices t with a scene change between t and t+1."""

    frames: torch.Tensor
    holes: torch.Tensor
    forward: torch.Tensor
    backward: torch.Tensor
    cuts: frozenset[int]
    readable: torch.Tensor  # (T, 1, H, W) float: 1 where a candidate may be read (known, off the hole's edge)


@dataclass
class Candidates:
    """What the frames before (index 0) and after (1) show of frame n's hole pixels ``ys``, ``xs``:
    ``values`` (2, 3, P), ``found`` (2, P) bool, ``distance`` (2, P) frames, ``mismatch`` (2, P) pixels."""

    ys: torch.Tensor
    xs: torch.Tensor
    values: torch.Tensor
    found: torch.Tensor
    distance: torch.Tensor
    mismatch: torch.Tensor


def prepare(frames: torch.Tensor, masks: torch.Tensor, cuts: frozenset[int] = frozenset(),
            flow_scale: float = 0.5, laplace: holes.LaplaceFill | None = None) -> Window:
    """The window's completed flows (steps 1 and 2 of the module's description), all computed at
    ``flow_scale`` of the frame size (DIS looks no finer; the fills cost less) and enlarged after."""
    frames = frames.float()
    masks = masks.bool()
    height, width = frames.shape[-2:]
    size = (max(8, round(height * flow_scale)), max(8, round(width * flow_scale)))
    small, small_masks = frames, masks
    if size != (height, width):
        small = F.interpolate(frames, size=size, mode="area")
        small_masks = F.interpolate(masks.float(), size=size, mode="area") > 0
    laplace = laplace or holes.LaplaceFill(small_masks[0, 0].cpu().numpy())
    filled = torch.stack([holes.fill(f, m, 0.5, laplace) for f, m in zip(small, small_masks, strict=True)])
    margin = FLOW_MARGIN
    wide = holes.dilate(small_masks, margin)
    forward, backward = [], []
    # DIS runs on one core per pair: pairs side by side use the others (each pair's flow is its own)
    with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
        pairs = list(pool.map(lambda t: flow.pair(filled[t], filled[t + 1]), range(len(frames) - 1)))
    for t, (f, b) in enumerate(pairs):
        either = wide[t] | wide[t + 1]  # a pixel facing the other frame's fill is matched against it
        forward.append(holes.fill(f[0], either, 0.0, laplace))
        backward.append(holes.fill(b[0], either, 0.0, laplace))
    if not forward:
        empty = frames.new_zeros(0, 2, height, width)
        return Window(frames, masks, empty, empty, cuts, (~holes.dilate(masks, READ_MARGIN)).float())
    flows = torch.stack(forward + backward)
    if size != (height, width):
        flows = F.interpolate(flows, size=(height, width), mode="bilinear", align_corners=False)
        flows = flows * torch.tensor([width / size[1], height / size[0]], device=flows.device).view(1, 2, 1, 1)
    return Window(frames, masks, flows[: len(forward)], flows[len(forward) :], cuts, (~holes.dilate(masks, READ_MARGIN)).float())


def _read(field: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """(C, H, W) ``field`` read at points (x, y) (P,) in pixels, edges clamped: (C, P)."""
    height, width = field.shape[-2:]
    grid = torch.stack([x * (2 / max(width - 1, 1)) - 1, y * (2 / max(height - 1, 1)) - 1], -1).view(1, 1, -1, 2)
    return F.grid_sample(field[None], grid.to(field.dtype), mode=mode, padding_mode="border",
                         align_corners=True)[0, :, 0]


def candidates(window: Window, n: int, radius: int) -> Candidates:
    """What the frames within ``radius`` of frame ``n`` show of its holes (step 3)."""
    ys, xs = torch.nonzero(window.holes[n, 0], as_tuple=True)
    count = ys.numel()
    device = window.frames.device
    values = window.frames.new_zeros(2, 3, count)
    found = torch.zeros(2, count, dtype=torch.bool, device=device)
    distance = window.frames.new_zeros(2, count)
    mismatch = window.frames.new_zeros(2, count)
    height, width = window.frames.shape[-2:]
    for side, step in enumerate((-1, 1)):
        x, y = xs.to(values.dtype), ys.to(values.dtype)
        error = torch.zeros_like(x)
        for k in range(1, radius + 1):
            m = n + step * k
            crossing = m - 1 if step > 0 else m  # the interval between m - step and m
            if not 0 <= m < len(window.frames) or crossing in window.cuts:
                break
            there, back = (window.forward[m - 1], window.backward[m - 1]) if step > 0 else (window.backward[m], window.forward[m])
            move = _read(there, x, y)
            x, y = x + move[0], y + move[1]
            loop = move + _read(back, x, y)  # there and back again: zero where the flows agree
            error = error + torch.sqrt(loop[0] * loop[0] + loop[1] * loop[1])
            inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
            new = inside & (_read(window.readable[m], x, y)[0] > 0.999) & ~found[side]
            if bool(new.any()):
                values[side][:, new] = _read(window.frames[m], x[new], y[new], VALUES)
                distance[side][new] = k
                mismatch[side][new] = error[new]
                found[side] |= new
            if bool(found[side].all()):
                break
    return Candidates(ys, xs, values, found, distance, mismatch)


def weights(c: Candidates) -> torch.Tensor:
    """Each side's mixing weight (2, P): 1 / (distance · (1 + mismatch²)) where found, else 0."""
    return torch.where(c.found, 1 / (c.distance.clamp_min(1) * (1 + c.mismatch**2)), torch.zeros_like(c.distance))


def base(window: Window, n: int, c: Candidates, laplace: holes.LaplaceFill | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame ``n`` with its holes filled from the candidates and, where none was found, by the Laplace fill
    (step 4), and the (H, W) bool map of the pixels no frame showed."""
    frame = window.frames[n].clone()
    w = weights(c)
    total = w.sum(0)
    seen = total > 0
    mixed = (c.values * w[:, None]).sum(0) / total.clamp_min(1e-12)
    frame[:, c.ys[seen], c.xs[seen]] = mixed[:, seen]
    unseen = torch.zeros(frame.shape[-2:], dtype=torch.bool, device=frame.device)
    unseen[c.ys[~seen], c.xs[~seen]] = True
    return holes.fill(frame, unseen, 0.5, laplace), unseen


def fill_frames(frames: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], radius: int,
                cuts: frozenset[int] = frozenset(), flow_scale: float = 0.5) -> list[torch.Tensor]:
    """Every frame of a window (3, H, W each, with (1, H, W) masks) filled by the base."""
    window = prepare(torch.stack(list(frames)), torch.stack(list(masks)), cuts, flow_scale)
    return [base(window, n, candidates(window, n, radius))[0] for n in range(len(frames))]


def frame_planes(window: Window, n: int, radius: int, laplace: holes.LaplaceFill | None = None) -> torch.Tensor:
    """Frame ``n``'s network inputs (``model.inputs``; the base first) as full-frame planes."""
    c = candidates(window, n, radius)
    filled, unseen = base(window, n, c, laplace)
    w = weights(c)
    w = w / w.sum(0, keepdim=True).clamp_min(1e-12)
    height, width = filled.shape[-2:]
    values = filled[None].repeat(2, 1, 1, 1)
    maps = filled.new_zeros(6, height, width)  # weights, found, mismatch of both sides
    for side in range(2):
        values[side][:, c.ys, c.xs] = torch.where(c.found[side], c.values[side], filled[:, c.ys, c.xs])
        for i, plane in enumerate((w[side], c.found[side].to(w.dtype), c.mismatch[side])):
            maps[2 * i + side][c.ys, c.xs] = plane
    return inputs(filled, values, maps[0:2], maps[2:4], maps[4:6], window.holes[n, 0], unseen)
