"""Quality metrics of the evaluation protocol: PSNR and SSIM on Y (BT.601) and RGB, bits per pixel, and
the Bjøntegaard delta rate. Images are float arrays in [0, 1], (3, H, W) for RGB or (H, W) for one plane.
"""

from __future__ import annotations

import math

import numpy as np


def quantize(image: np.ndarray) -> np.ndarray:
    """Clamp to [0, 1] and round to 8-bit levels, as every published SR/VFI score does before measuring."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0) / 255.0


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma in studio range, scaled to [0, 1] (MATLAB ``rgb2ycbcr``'s Y over 255)."""
    r, g, b = rgb[0].astype(np.float64), rgb[1].astype(np.float64), rgb[2].astype(np.float64)
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def crop(image: np.ndarray, border: int) -> np.ndarray:
    """Drop ``border`` pixels on every side (the protocol crops ``sscale`` pixels)."""
    return image[..., border : image.shape[-2] - border, border : image.shape[-1] - border] if border else image


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical images)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def _gaussian_window(sigma: float = 1.5, truncate: float = 3.5) -> np.ndarray:
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, mask: np.ndarray | None = None) -> float:
    """Structural similarity (Wang et al. 2004): Gaussian window σ=1.5, K1=0.01, K2=0.03, population
    statistics, averaged over the positions where the window fits (and over channels for RGB); with an
    (H, W) bool ``mask``, over those of them that it marks only (NaN where it marks none).

    Matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1)``.
    """
    if a.ndim == 3:
        return float(np.mean([ssim(a[c], b[c], data_range, mask) for c in range(a.shape[0])]))
    from scipy.ndimage import correlate1d

    window = _gaussian_window()
    pad = window.size // 2
    x, y = a.astype(np.float64), b.astype(np.float64)

    def blur(image: np.ndarray) -> np.ndarray:  # borders are cropped below, so the edge mode is irrelevant
        image = correlate1d(correlate1d(image, window, axis=0), window, axis=1)
        return image[pad:-pad, pad:-pad]

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    if mask is None:
        return float(s.mean())
    inside = mask[pad:-pad, pad:-pad]
    return float(s[inside].mean()) if inside.any() else float("nan")


def bits_per_pixel(num_bytes: int, width: int, height: int, frames: int) -> float:
    """A file's size in bits over the frames' area."""
    if min(width, height, frames) <= 0 or num_bytes < 0:
        raise ValueError(f"bits_per_pixel needs positive width, height and frames, got {width}×{height}×{frames}")
    return 8.0 * num_bytes / (width * height * frames)


def bd_rate(rates_a: list[float], psnrs_a: list[float], rates_b: list[float], psnrs_b: list[float]) -> float:
    """Bjøntegaard delta rate of B against A, in percent (negative: B needs fewer bits for equal PSNR).

    log10(rate) is interpolated in PSNR by a monotone piecewise cubic (PCHIP, as JVET's common test
    conditions do since the classic cubic fit overshoots) and averaged over the PSNR range both curves
    cover. Works from two points per curve, so three model sizes give a BD-rate.
    """
    from scipy.interpolate import PchipInterpolator  # (lazy: only rate-distortion needs it)

    def curve(rates: list[float], psnrs: list[float]) -> PchipInterpolator:
        if len(rates) != len(psnrs) or len(rates) < 2:
            raise ValueError(f"BD-rate needs at least 2 (rate, PSNR) points per curve, got {len(rates)}")
        if min(rates) <= 0:
            raise ValueError("BD-rate needs positive rates")
        order = np.argsort(psnrs)
        x = np.asarray(psnrs, dtype=np.float64)[order]
        if np.any(np.diff(x) <= 0):
            raise ValueError("BD-rate needs distinct PSNRs along a curve")
        return PchipInterpolator(x, np.log10(np.asarray(rates, dtype=np.float64)[order]))

    fit_a, fit_b = curve(rates_a, psnrs_a), curve(rates_b, psnrs_b)
    low, high = max(min(psnrs_a), min(psnrs_b)), min(max(psnrs_a), max(psnrs_b))
    if high <= low:
        raise ValueError("the two rate-distortion curves do not overlap in PSNR")
    mean_a = fit_a.integrate(low, high) / (high - low)
    mean_b = fit_b.integrate(low, high) / (high - low)
    return float((10 ** (mean_b - mean_a) - 1) * 100)
