"""Classical hole filling: Laplace interpolation from a hole's border (MATLAB's
``regionfill``, exact on numpy frames and the same on tensors by ``fill``) and a temporal median of what other frames saw at the same pixel. The in-painting
baselines are these; SNeRV's encoder sees frames filled by them, so what it adds is measured against
its own starting point. Every fill reads known pixels only: what lies in a hole never reaches it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
import torch


def _system(mask: np.ndarray) -> tuple | None:
    """The factorised Laplace system of every hole (True) of a (H, W) ``mask`` at once, the holes' pixels
    and their known border neighbours: (solver, ys, xs, k_idx, k_y, k_x); None when nothing is known.
    Frame edges repeat (a hole at the edge takes no value from outside the frame)."""
    from scipy import sparse
    from scipy.sparse.linalg import splu

    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    if ys.size == mask.size:
        return None
    number = -np.ones(mask.shape, np.int64)
    number[ys, xs] = np.arange(ys.size)
    rows, cols, known = [np.arange(ys.size)], [np.arange(ys.size)], []
    diagonal = np.full(ys.size, 4.0)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)  # edge: replicate
        other = number[ny, nx]
        inside = other >= 0
        same = other == np.arange(ys.size)  # the edge's own pixel: the equation loses that neighbour
        diagonal -= same
        rows.append(np.nonzero(inside & ~same)[0])
        cols.append(other[inside & ~same])
        known.append((np.nonzero(~inside)[0], ny[~inside], nx[~inside]))
    values = np.concatenate([diagonal] + [-np.ones(r.size) for r in rows[1:]])
    matrix = sparse.csc_matrix((values, (np.concatenate(rows), np.concatenate(cols))), shape=(ys.size, ys.size))
    k_idx, k_y, k_x = (np.concatenate(parts) for parts in zip(*known, strict=True))
    return splu(matrix), ys, xs, k_idx, k_y, k_x


class LaplaceFill:
    """Laplace interpolation of the holes of an (H, W) ``mask`` (the same in every frame) or a (T, H, W)
    one (frame by frame). A mask's sparse system is factorised once, on first use, and reused for every
    plane and every frame with the same holes (a static mask given frame by frame, as in-painting's
    per-frame masks usually are, costs one factorisation); the last ``keep`` systems are kept."""

    def __init__(self, mask: np.ndarray, keep: int = 8):
        self.mask = mask
        self.keep = keep
        self._systems: OrderedDict[bytes, tuple | None] = OrderedDict()  # by the frame's mask, bit-packed

    def system(self, mask: np.ndarray) -> tuple | None:
        key = np.packbits(np.asarray(mask, bool)).tobytes() + bytes(str(mask.shape), "ascii")
        if key not in self._systems:
            self._systems[key] = _system(np.asarray(mask, bool))
            while len(self._systems) > self.keep:
                self._systems.popitem(last=False)
        self._systems.move_to_end(key)
        return self._systems[key]

    def __call__(self, planes: Iterable[np.ndarray], n: int, empty: float = 0.5) -> None:
        """Fill frame ``n``'s (H, W) ``planes`` in place (with ``empty`` where the whole frame is a hole)."""
        self.fill(planes, self.mask if self.mask.ndim == 2 else self.mask[n], empty)

    def fill(self, planes: Iterable[np.ndarray], mask: np.ndarray, empty: float = 0.5) -> None:
        """Fill the (H, W) ``planes`` in place where the (H, W) ``mask`` is True, whatever mask this was
        made for (its factorisation is kept among the last ``keep``)."""
        planes = list(planes)
        if not planes or not mask.any():
            return
        found = self.system(mask)
        if found is None:
            for plane in planes:
                plane[...] = empty
            return
        solver, ys, xs, k_idx, k_y, k_x = found
        rhs = np.stack([np.bincount(k_idx, weights=plane[k_y, k_x].astype(np.float64), minlength=ys.size)
                        for plane in planes], 1)
        solved = solver.solve(rhs)
        for c, plane in enumerate(planes):
            plane[ys, xs] = solved[:, c]


def fill(x: torch.Tensor, unknown: torch.Tensor, empty: float = 0.0, laplace: LaplaceFill | None = None
         ) -> torch.Tensor:
    """``x`` (C, H, W) with its ``unknown`` pixels ((H, W) or (1, H, W) bool) Laplace-filled from the known
    ones (computed on the CPU, where the sparse solver is), on ``x``'s device; ``laplace`` reuses the
    factorisations of an earlier call. Known pixels are returned unchanged."""
    mask = unknown.reshape(x.shape[-2:]).cpu().numpy()
    if not mask.any():
        return x
    laplace = laplace or LaplaceFill(mask)
    planes = x.detach().to("cpu", torch.float32).numpy().copy()
    laplace.fill(list(planes), mask, empty)
    return torch.from_numpy(planes).to(x.device, x.dtype)


def dilate(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """(N, 1, H, W) bool ``mask`` grown by ``pixels`` (a square neighbourhood)."""
    if pixels <= 0:
        return mask
    side = 2 * pixels + 1  # a square is a row then a column: two thin pools cost less than one square
    grown = torch.nn.functional.max_pool2d(mask.float(), (1, side), stride=1, padding=(0, pixels))
    return torch.nn.functional.max_pool2d(grown, (side, 1), stride=1, padding=(pixels, 0)) > 0


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
