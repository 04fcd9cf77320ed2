"""classic's defaults: Spline36, and frames between source frames moved along DIS optical flow; the
default method of Interpolate; the default of STVSR is zsm at ×4 ×2 and videoinr at other scales."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import vapoursynth as vs
from conftest import frames

from vsinr.io import media
from vsinr.ops import degrade

core = vs.core


def sliding(count: int, shift: int = 3, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """A smooth texture sliding right by ``shift`` px a frame."""
    rng = np.random.default_rng(1)
    texture = degrade.imresize(rng.random((3, height // 8, (width + shift * count) // 8 + 1)).astype(np.float32), 8.0)
    return [np.ascontiguousarray(np.clip(texture[:, :height, n * shift: n * shift + width], 0, 1)) for n in range(count)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    inner = (slice(None), slice(4, -4), slice(8, -8))  # away from the border the motion uncovers
    return float(10 * np.log10(1 / np.mean((a[inner] - b[inner]) ** 2)))


def test_interpolate_moves_along_the_motion() -> None:
    truth = sliding(9)
    clip = media.clip_from_arrays(truth[::2], Fraction(12), vs.RGBS)
    flowed = frames(core.vsinr.Interpolate(clip, 2))  # classic is the default
    blended = frames(core.vsinr.Interpolate(clip, 2, method="classic", motion="blend"))
    for k in (1, 3, 5):
        assert psnr(flowed[k], truth[k]) > 35, k
        assert psnr(flowed[k], truth[k]) > psnr(blended[k], truth[k]) + 8, k
    for k in (0, 2, 4, 6):  # source instants are the source frames, bit for bit
        assert np.array_equal(flowed[k], truth[k])


def test_stvsr_defaults_are_spline36_and_flow() -> None:
    truth = sliding(5)
    clip = media.clip_from_arrays(truth[::2], Fraction(12), vs.RGBS)
    out = core.vsinr.STVSR(clip, 2, 2, method="classic")
    up = frames(core.resize.Spline36(clip, 128, 96))
    got = frames(out)
    assert (out.width, out.height, out.num_frames) == (128, 96, 6)
    assert np.array_equal(got[0], up[0]) and np.array_equal(got[2], up[1])
    middle = frames(core.resize.Spline36(media.clip_from_arrays(truth[1:2], Fraction(12), vs.RGBS), 128, 96))[0]
    blend = (up[0] + up[1]) / 2
    assert psnr(got[1], middle) > psnr(blend, middle) + 6


def test_default_methods() -> None:
    clip = media.clip_from_arrays(sliding(3), Fraction(12), vs.RGBS)
    assert np.array_equal(frames(core.vsinr.STVSR(clip, 2, 2))[1], frames(core.vsinr.STVSR(clip, 2, 2, method="videoinr"))[1])
    assert np.array_equal(frames(core.vsinr.STVSR(clip, 4, 2))[1], frames(core.vsinr.STVSR(clip, 4, 2, method="zsm"))[1])
    classic = frames(core.vsinr.STVSR(clip, 2, 2, method="classic"))[1]
    assert not np.array_equal(frames(core.vsinr.STVSR(clip, 2, 2))[1], classic)
    assert np.array_equal(frames(core.vsinr.Interpolate(clip, 2))[1],
                          frames(core.vsinr.Interpolate(clip, 2, method="classic"))[1])


