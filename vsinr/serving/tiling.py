"""Tiled rendering with overlap, so large frames run in bounded memory.

Tiles start on input positions that map to whole output pixels (multiples of the denominator of the
output/input size ratio), so the stitched result has the same sampling grid as an untiled run. Each
tile is rendered with ``overlap`` extra input pixels on every inner side, and only its core is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class TileGrid:
    """Tile layout along both axes of a (height, width) input scaled to (out_height, out_width)."""

    size: tuple[int, int]
    out_size: tuple[int, int]
    tile: tuple[int, int]  # input tile (height, width); 0 means one tile along that axis
    overlap: int

    def ratio(self, axis: int) -> Fraction:
        return Fraction(self.out_size[axis], self.size[axis])

    def refusal(self) -> str | None:
        """Why this layout cannot be tiled exactly, or None."""
        for axis, name in ((0, "height"), (1, "width")):
            quantum = self.ratio(axis).denominator
            if 0 < self.tile[axis] < self.size[axis] and quantum > self.tile[axis]:
                return (
                    f"the {name} ratio {self.out_size[axis]}/{self.size[axis]} only aligns every {quantum} input "
                    f"pixels, more than the tile {name} {self.tile[axis]}; use a larger tile or a scale that "
                    f"gives a simpler ratio"
                )
        return None

    def spans(self, axis: int) -> list[tuple[int, int]]:
        """Input [start, end) of each tile core along an axis."""
        length, tile = self.size[axis], self.tile[axis]
        if tile <= 0 or tile >= length:
            return [(0, length)]
        quantum = self.ratio(axis).denominator
        tile = -(-tile // quantum) * quantum
        return [(start, min(start + tile, length)) for start in range(0, length, tile)]

    def padded(self, axis: int, span: tuple[int, int]) -> tuple[int, int]:
        """The span grown by the overlap (rounded to whole output pixels), inside the frame."""
        quantum = self.ratio(axis).denominator
        pad = -(-self.overlap // quantum) * quantum
        return max(0, span[0] - pad), min(self.size[axis], span[1] + pad)

    def out(self, axis: int, position: int) -> int:
        value = position * self.ratio(axis)
        assert value.denominator == 1, "tile positions are aligned to whole output pixels"
        return int(value)


def auto_tile(size: tuple[int, int], out_size: tuple[int, int], bytes_per_out_pixel: int, budget: int) -> tuple[int, int]:
    """Square input tiles (height, width) whose outputs need at most ``budget`` bytes; (0, 0) when one
    whole frame fits. Tiles are rounded to whole output pixels so that tiling stays exact."""
    out_pixels = out_size[0] * out_size[1]
    if out_pixels * bytes_per_out_pixel <= budget:
        return (0, 0)
    scale = (out_pixels / (size[0] * size[1])) ** 0.5
    side = max(16, int((budget / bytes_per_out_pixel) ** 0.5 / scale))
    quanta = [Fraction(out_size[a], size[a]).denominator for a in (0, 1)]
    return tuple(max(q, side // q * q) for q in quanta)  # type: ignore[return-value]


def render_tiled(
    render: Callable[[Sequence[Any], Sequence[float], Sequence[Any]], None],
    frames: Sequence[Any],
    times: Sequence[float],
    out: Sequence[Any],
    grid: TileGrid,
) -> None:
    """Render ``frames`` (each (C, H, W)) at ``times`` into ``out`` (each (C, H', W')), tile by tile."""
    import torch

    ys, xs = grid.spans(0), grid.spans(1)
    if len(ys) == 1 and len(xs) == 1:
        render(frames, times, out)
        return
    channels = out[0].shape[0]
    for y0, y1 in ys:
        py0, py1 = grid.padded(0, (y0, y1))
        for x0, x1 in xs:
            px0, px1 = grid.padded(1, (x0, x1))
            shape = (channels, grid.out(0, py1) - grid.out(0, py0), grid.out(1, px1) - grid.out(1, px0))
            pieces = [torch.empty(shape, dtype=out[0].dtype, device=out[0].device) for _ in times]
            render([f[:, py0:py1, px0:px1] for f in frames], times, pieces)
            cy0, cy1 = grid.out(0, y0) - grid.out(0, py0), grid.out(0, y1) - grid.out(0, py0)
            cx0, cx1 = grid.out(1, x0) - grid.out(1, px0), grid.out(1, x1) - grid.out(1, px0)
            for target, piece in zip(out, pieces, strict=True):
                target[:, grid.out(0, y0) : grid.out(0, y1), grid.out(1, x0) : grid.out(1, x1)] = piece[
                    :, cy0:cy1, cx0:cx1
                ]
