"""Optical flow without learned weights, and frames moved along it.

The estimator is OpenCV's DIS (Kroeger et al., 2016), tuned finer than its MEDIUM preset (8-pixel
patches every 3 pixels, down to full resolution, with variational refinement). End-point error on the
Middlebury Motorcycle pair at quarter size (the test suite checks it): 0.80 px with these settings,
1.10 px with the MEDIUM preset. The fitted methods compute flow between a clip's own (observed) frames
only; OF-SIREN and SNeRV-T both correct a motion-compensated blend of the two frames around a time
(``intermediate``, ``between``).
"""

from __future__ import annotations

import numpy as np
import torch


def _dis():
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setPatchSize(8)
    dis.setPatchStride(3)
    dis.setFinestScale(0)
    dis.setGradientDescentIterations(25)
    dis.setVariationalRefinementIterations(10)
    return dis


#: DIS fails on images narrower or lower than about this; smaller sides are padded (edges repeated)
MIN_SIDE = 16


def _calc(dis, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``dis.calc(a, b)``, padding images too small for DIS and cropping the flow back."""
    height, width = a.shape
    if min(height, width) >= MIN_SIDE:
        return dis.calc(a, b, None)
    pad = ((0, max(0, MIN_SIDE - height)), (0, max(0, MIN_SIDE - width)))
    return dis.calc(np.pad(a, pad, mode="edge"), np.pad(b, pad, mode="edge"), None)[:height, :width].copy()


def to_gray8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] → (H, W) 8-bit luma (BT.601 weights), what DIS takes."""
    luma = image[..., 0] * 0.299 + image[..., 1] * 0.587 + image[..., 2] * 0.114
    return np.ascontiguousarray(np.clip(luma * 255 + 0.5, 0, 255).astype(np.uint8))


def gray8(frame: torch.Tensor) -> np.ndarray:
    """A (3, H, W) RGB tensor as DIS's 8-bit luma."""
    return to_gray8(frame.permute(1, 2, 0).float().cpu().numpy())


def flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flow (H, W, 2) = (dx, dy) in pixels from 8-bit gray image ``a`` to ``b``: a(p) ≈ b(p + flow(p))."""
    return _calc(_dis(), a, b)


def pairs(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow between consecutive frames of a (T, 3, H, W) clip: forward (k → k+1) and backward (k+1 → k),
    each (T-1, 2, H, W) as (dx, dy) pixels."""
    count, _, height, width = frames.shape
    gray = [gray8(f) for f in frames]
    dis = _dis()

    def stack(flows: list[np.ndarray]) -> torch.Tensor:
        if not flows:
            return torch.zeros(0, 2, height, width)
        return torch.from_numpy(np.ascontiguousarray(np.stack(flows).transpose(0, 3, 1, 2)))
    forward = stack([_calc(dis, gray[k], gray[k + 1]) for k in range(count - 1)])
    backward = stack([_calc(dis, gray[k + 1], gray[k]) for k in range(count - 1)])
    return forward, backward


def pair(left: torch.Tensor, right: torch.Tensor, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """DIS flows ``left`` → ``right`` and back, each (1, 2, H, W) in pixels of the (3, H, W) frames given.

    With ``scale`` < 1 the flow is estimated on the frames shrunk by that factor (area averaging) and
    scaled back up: for frames already enlarged by a resizer, ``1 / sscale`` estimates it at the source
    size, where it costs less and sees the source's detail rather than the resizer's.
    """
    import cv2

    height, width = left.shape[-2:]
    small = (max(8, round(width * scale)), max(8, round(height * scale)))
    gray = [gray8(frame) for frame in (left, right)]
    if small != (width, height):
        gray = [cv2.resize(g, small, interpolation=cv2.INTER_AREA) for g in gray]
    dis = _dis()
    out = []
    for a, b in ((gray[0], gray[1]), (gray[1], gray[0])):
        f = _calc(dis, a, b)
        if small != (width, height):
            # float32 in, float32 out (the stubs' MatLike does not say which dtype cv2 returns)
            f = np.asarray(cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR), np.float32)
            f[..., 0] *= width / small[0]
            f[..., 1] *= height / small[1]
        out.append(torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))[None].to(left.device))
    return out[0], out[1]


def velocities(forward: torch.Tensor, backward: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame motion from ``pairs``' flows: velocity (T, 2, H, W) as (dx, dy) pixels per frame, and a
    confidence (T, 1, H, W) in [0, 1].

    The velocity at frame k is the mean of the forward flow to k+1 and the negated backward flow to
    k-1 (one of them at the ends). Where the two disagree by much more than the motion itself
    (occlusions, flow failures), the confidence falls towards 0, so the flow term does not enforce a
    wrong motion.
    """
    count = len(forward) + 1
    height, width = forward.shape[-2:]
    velocity = torch.zeros(count, 2, height, width)
    confidence = torch.ones(count, 1, height, width)
    if count < 2:
        return velocity, confidence
    for k in range(count):
        ahead = forward[k] if k < count - 1 else None
        behind = -backward[k - 1] if k > 0 else None  # flow from k to k-1, negated: motion per frame
        if ahead is not None and behind is not None:
            velocity[k] = (ahead + behind) / 2
            spread = (ahead - behind).norm(dim=0)
            scale = 1 + 0.25 * velocity[k].norm(dim=0)
            confidence[k, 0] = (2 - spread / scale).clamp(0, 1)
        else:
            moved = ahead if ahead is not None else behind
            assert moved is not None  # count >= 2: every frame has a neighbour on at least one side
            velocity[k] = moved
    return velocity, confidence


def intermediate(f01: torch.Tensor, f10: torch.Tensor, s: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """The flow from time ``s`` in (0, 1) between frames 0 and 1 back to frame 0 and to frame 1, from the
    flows between them at the same position (Super SloMo, Jiang et al. 2018): -(1-s)s·F₀₁ + s²·F₁₀ and
    (1-s)²·F₀₁ - s(1-s)·F₁₀. Any shapes that broadcast; (dx, dy) stay in whatever axis they are."""
    return -(1 - s) * s * f01 + s * s * f10, (1 - s) ** 2 * f01 - s * (1 - s) * f10


def warp(frames: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``frames`` (N, C, H, W) read at p + ``flow``(p) (N, 2, H, W) as (dx, dy) pixels: bilinear, with
    positions outside the frame clamped to its border."""
    _, _, height, width = frames.shape
    y, x = torch.meshgrid(torch.arange(height, dtype=flow.dtype, device=flow.device),
                          torch.arange(width, dtype=flow.dtype, device=flow.device), indexing="ij")
    # grid_sample's [-1, 1] with align_corners=True puts -1 and 1 on the first and last pixel centres
    gx = (x + flow[:, 0]) * (2 / max(width - 1, 1)) - 1
    gy = (y + flow[:, 1]) * (2 / max(height - 1, 1)) - 1
    grid = torch.stack([gx, gy], dim=-1)
    return torch.nn.functional.grid_sample(frames, grid.to(frames.dtype), mode="bilinear", padding_mode="border",
                                           align_corners=True)


def between(a: torch.Tensor, b: torch.Tensor, f01: torch.Tensor, f10: torch.Tensor, s: float) -> torch.Tensor:
    """The motion-compensated blend at time ``s`` in [0, 1] between frames ``a`` and ``b`` (N, C, H, W), given
    the flows ``f01`` (a → b) and ``f10`` (b → a) (N, 2, H, W): each is fetched along ``intermediate``'s
    flows and they are mixed (1-s, s), so s = 0 gives ``a`` and s = 1 gives ``b`` exactly."""
    if s <= 0:
        return a.clone()
    if s >= 1:
        return b.clone()
    a_s, b_s = moved(a, b, f01, f10, s)
    return (1 - s) * a_s + s * b_s


def moved(a: torch.Tensor, b: torch.Tensor, f01: torch.Tensor, f10: torch.Tensor,
          s: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames ``a`` and ``b`` (N, C, H, W) each moved to time ``s`` (a number or (N, 1, 1, 1)) along
    ``intermediate``'s flows: what ``between`` mixes."""
    to0, to1 = intermediate(f01, f10, s)
    return warp(a, to0), warp(b, to1)
