"""Classical hole filling on numpy frames: Laplace interpolation from a hole's border (MATLAB's
``regionfill``) and a temporal median of what other frames saw at the same pixel. The in-painting
baselines are these; SNeRV's encoder sees frames filled by them, so what it adds is measured against
its own starting point. Every fill reads known pixels only: what lies in a hole never reaches it."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def _solvers(mask: np.ndarray) -> list[tuple]:
    """For each hole (4-connected region of True) of a (H, W) ``mask``: the factorised Laplace system,
    its pixels and its border neighbours."""
    from scipy import ndimage, sparse
    from scipy.sparse.linalg import splu

    height, width = mask.shape
    labels, _ = ndimage.label(mask)
    solvers: list[tuple] = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        ys, xs = np.nonzero(labels[box] == index)
        ys, xs = ys + box[0].start, xs + box[1].start
        number = -np.ones(mask.shape, np.int64)
        number[ys, xs] = np.arange(ys.size)
        rows, cols, vals = list(range(ys.size)), list(range(ys.size)), [4.0] * ys.size
        known: list[tuple[int, int, int]] = []  # (unknown, y, x) of each border neighbour
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            ny, nx = np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)  # edge: replicate
            inside = number[ny, nx] >= 0
            rows += list(np.nonzero(inside)[0])
            cols += list(number[ny, nx][inside])
            vals += [-1.0] * int(inside.sum())
            known += [(i, y, x) for i, y, x in zip(np.nonzero(~inside)[0], ny[~inside], nx[~inside], strict=True)]
        if not known:  # the whole frame is one hole: nothing to interpolate from (filled with mid-grey)
            solvers.append((None, ys, xs, None, None, None))
            continue
        matrix = sparse.csc_matrix((vals, (rows, cols)), shape=(ys.size, ys.size))
        k_idx, k_y, k_x = (np.array(v) for v in zip(*known, strict=True))
        solvers.append((splu(matrix), ys, xs, k_idx, k_y, k_x))
    return solvers


class LaplaceFill:
    """Laplace interpolation of the holes of an (H, W) ``mask`` (the same in every frame) or a (T, H, W)
    one (frame by frame). Each distinct mask's sparse systems are factorised once, on first use, and
    reused for every plane and every frame with the same holes (a static mask given frame by frame,
    as in-painting's per-frame masks usually are, costs one factorisation)."""

    def __init__(self, mask: np.ndarray):
        self.mask = mask
        self._systems: dict[bytes, list[tuple]] = {}  # by the frame's mask, bit-packed

    def __call__(self, planes: Iterable[np.ndarray], n: int) -> None:
        """Fill frame ``n``'s (H, W) ``planes`` in place."""
        mask = self.mask if self.mask.ndim == 2 else self.mask[n]
        key = np.packbits(np.asarray(mask, bool)).tobytes()
        if key not in self._systems:
            self._systems[key] = _solvers(mask)
        for plane in planes:
            for solver, ys, xs, k_idx, k_y, k_x in self._systems[key]:
                if solver is None:
                    plane[ys, xs] = 0.5
                    continue
                rhs = np.bincount(k_idx, weights=plane[k_y, k_x].astype(np.float64), minlength=ys.size)
                plane[ys, xs] = solver.solve(rhs)


def regionfill(frames: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """(T, C, H, W) ``frames`` with the pixels where ``holes`` ((H, W) for every frame, or (T, H, W)) is
    True filled by Laplace interpolation, frame by frame and plane by plane."""
    out = np.array(frames, np.float32)
    fill = LaplaceFill(holes)
    for n, frame in enumerate(out):
        fill(frame, n)
    return out


def temporal_fill(frames: np.ndarray, holes: np.ndarray, radius: int = 3) -> np.ndarray:
    """(T, C, H, W) ``frames`` with each hole pixel set to the median of the values the same pixel has
    where it is known in the ``radius`` frames either side; pixels known in none of them (a static
    hole) get ``regionfill``'s."""
    frames = np.asarray(frames, np.float32)
    holes = np.broadcast_to(holes, (len(frames), *frames.shape[-2:]))
    seen = np.where(holes[:, None], np.nan, frames)
    spatial = regionfill(frames, holes)
    out = frames.copy()
    for n in range(len(frames)):
        window = seen[max(0, n - radius) : n + radius + 1]
        known = ~np.isnan(window)
        median = np.nanmedian(np.where(known.any(0), window, 0.0), axis=0)  # (no all-NaN columns: no warning)
        out[n] = np.where(holes[n], np.where(known.any(0), median, spatial[n]), frames[n])
    return out
