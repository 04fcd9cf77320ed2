from collections.abc import Sequence

import pytest
import torch
import torch.nn.functional as F

from vsinr.serving.tiling import TileGrid, render_tiled


def bicubic_blend(frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor]) -> None:
    up = F.interpolate(torch.stack(list(frames)), size=tuple(out[0].shape[-2:]), mode="bicubic", align_corners=False)
    for t, target in zip(times, out, strict=True):
        torch.lerp(up[0], up[1], t, out=target)


def rendered(frames: torch.Tensor, times: list[float], grid: TileGrid) -> list[torch.Tensor]:
    out = [torch.full((3, *grid.out_size), float("nan")) for _ in times]
    render_tiled(bicubic_blend, list(frames), times, out, grid)
    return out


@pytest.mark.parametrize(("scale", "tile"), [((2, 1), (8, 8)), ((5, 2), (10, 6)), ((1, 1), (7, 9)), ((3, 1), (5, 13))])
def test_tiled_equals_untiled(scale: tuple[int, int], tile: tuple[int, int]) -> None:
    torch.manual_seed(0)
    frames = torch.rand(2, 3, 26, 34)
    out_size = (26 * scale[0] // scale[1], 34 * scale[0] // scale[1])
    times = [0.0, 0.3, 0.75]
    whole = rendered(frames, times, TileGrid((26, 34), out_size, (0, 0), 0))
    tiled = rendered(frames, times, TileGrid((26, 34), out_size, tile, 4))
    assert len(TileGrid((26, 34), out_size, tile, 4).spans(0)) > 1
    for a, b in zip(whole, tiled, strict=True):
        assert a.shape == b.shape == (3, *out_size)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_too_little_overlap_shows_seams() -> None:
    # the overlap is what makes tiling exact: without it the bicubic kernel sees the tile edge
    frames = torch.rand(2, 3, 24, 24)
    whole = rendered(frames, [0.5], TileGrid((24, 24), (48, 48), (0, 0), 0))[0]
    seamed = rendered(frames, [0.5], TileGrid((24, 24), (48, 48), (8, 8), 0))[0]
    assert (whole - seamed).abs().max() > 1e-3


def test_tiles_align_to_whole_output_pixels() -> None:
    grid = TileGrid((30, 30), (75, 75), (7, 7), 3)  # ratio 5/2: tiles start on even input pixels
    assert [s for s, _ in grid.spans(1)] == [0, 8, 16, 24]
    assert grid.padded(1, (8, 16)) == (4, 20)
    assert grid.refusal() is None
    odd = TileGrid((640, 640), (877, 877), (64, 64), 8)  # ratio 877/640 never aligns inside a 64 px tile
    assert "ratio 877/640" in (odd.refusal() or "")
