"""Metric and resize code against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from vsinr.evaluation import metrics
from vsinr.ops import degrade


def test_psnr_of_a_constant_offset() -> None:
    a = np.random.default_rng(0).random((3, 20, 30)) * 0.8
    assert metrics.psnr(a, a + 0.1) == pytest.approx(20.0)  # 10·log10(1 / 0.1²)
    assert metrics.psnr(a, a + 0.01) == pytest.approx(40.0)
    assert metrics.psnr(a, a) == math.inf


def test_ssim_equals_scikit_image() -> None:
    rng = np.random.default_rng(7)
    a = rng.random((48, 64))
    b = np.clip(a + rng.normal(0, 0.08, a.shape), 0, 1)
    reference = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)
    assert metrics.ssim(a, b) == pytest.approx(reference, abs=1e-12)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    rgb_a, rgb_b = np.stack([a, a * 0.5, a]), np.stack([b, b * 0.5, b])
    per_channel = [structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)
                   for x, y in zip(rgb_a, rgb_b, strict=True)]
    assert metrics.ssim(rgb_a, rgb_b) == pytest.approx(np.mean(per_channel), abs=1e-12)


def test_ssim_inside_a_mask_averages_the_map_there() -> None:
    rng = np.random.default_rng(8)
    a = rng.random((48, 64))
    b = a.copy()
    b[10:30, 20:40] = np.clip(b[10:30, 20:40] + rng.normal(0, 0.2, (20, 20)), 0, 1)  # damage in one box only
    mask = np.zeros(a.shape, bool)
    mask[10:30, 20:40] = True
    _, full = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=1, full=True)
    assert metrics.ssim(a, b, mask=mask) == pytest.approx(full[5:-5, 5:-5][mask[5:-5, 5:-5]].mean(), abs=1e-12)
    assert metrics.ssim(a, b, mask=mask) < metrics.ssim(a, b) < metrics.ssim(a, b, mask=~mask) < 1
    assert np.isnan(metrics.ssim(a, b, mask=np.zeros(a.shape, bool)))


def test_bt601_studio_luma() -> None:
    assert metrics.rgb_to_y(np.ones((3, 2, 2)))[0, 0] == pytest.approx(235 / 255, abs=1e-4)
    assert metrics.rgb_to_y(np.zeros((3, 2, 2)))[0, 0] == pytest.approx(16 / 255)


def test_imresize_half_has_matlabs_antialiased_bicubic_weights() -> None:
    # MATLAB imresize(x, 0.5, 'bicubic'): Keys a=-0.5 stretched ×2, i.e. these 8 taps per output pixel
    matrix = degrade.resize_matrix(32, 0.5)
    expected = [-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875]
    np.testing.assert_allclose(matrix[8, 13:21], expected, atol=1e-12)
    assert matrix[8].sum() == pytest.approx(1.0)
    # symmetric edge handling: the taps of the first output that fall before the frame fold back onto it
    # (input -k reads input k-1, 0-based): 0.11328125 + 0.43359375, -0.03515625 + 0.43359375, ...
    np.testing.assert_allclose(
        matrix[0, :6], [0.546875, 0.3984375, 0.1015625, -0.03515625, -0.01171875, 0.0], atol=1e-12
    )


def test_imresize_keeps_constants_and_linear_ramps() -> None:
    flat = np.full((3, 16, 24), 0.3, np.float32)
    assert np.allclose(degrade.imresize(flat, 0.25), 0.3, atol=1e-6)
    ramp = np.tile(np.arange(40, dtype=np.float32), (8, 1))
    small = degrade.imresize(ramp, 0.5)
    assert small.shape == (4, 20)
    np.testing.assert_allclose(small[0, 3:17], 2 * np.arange(3, 17) + 0.5, atol=1e-4)  # exact inside the frame
    assert degrade.imresize(np.zeros((3, 30, 45)), 0.25).shape == (3, 8, 12)  # ceil, as MATLAB


def test_bd_rate_of_shifted_curves() -> None:
    psnr = [30.0, 33.0, 36.0, 39.0]
    rate = [0.05, 0.1, 0.2, 0.4]
    assert metrics.bd_rate(rate, psnr, [r * 0.9 for r in rate], psnr) == pytest.approx(-10.0)
    assert metrics.bd_rate(rate, psnr, [r * 1.25 for r in rate], psnr) == pytest.approx(25.0)
    # a codec 1 dB better everywhere on a curve that doubles rate every 3 dB saves 1 - 2^(-1/3) of the bits
    assert metrics.bd_rate(rate, psnr, rate, [p + 1 for p in psnr]) == pytest.approx((2 ** (-1 / 3) - 1) * 100, abs=0.05)
    # three model sizes are enough (piecewise cubic); one point is not a curve
    assert metrics.bd_rate(rate[:3], psnr[:3], [r * 0.8 for r in rate[:3]], psnr[:3]) == pytest.approx(-20.0)
    with pytest.raises(ValueError):
        metrics.bd_rate(rate[:1], psnr[:1], rate[:1], psnr[:1])
    with pytest.raises(ValueError):
        metrics.bd_rate(rate, psnr, rate, [p + 20 for p in psnr])


def test_bits_per_pixel() -> None:
    assert metrics.bits_per_pixel(1000, 100, 10, 8) == pytest.approx(1.0)
    assert metrics.bits_per_pixel(1000, 320, 240, 10) == pytest.approx(8000 / 768000)
    assert metrics.bits_per_pixel(0, 64, 64, 1) == 0.0
    with pytest.raises(ValueError, match="positive width, height and frames"):
        metrics.bits_per_pixel(100, 0, 10, 1)
