"""Rate-distortion of neural codecs against x264 and x265 (``vsinr bench -t codec``): bits per pixel,
PSNR/SSIM-Y, encoding speed and BD-rates on every clip, with the protocol of ``vsinr.evaluation.benchmark``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vsinr.evaluation import metrics
from vsinr.evaluation.benchmark import Settings, average, load_clip
from vsinr.host import plugins
from vsinr.host.methods import EncodeOptions
from vsinr.io import media
from vsinr.io.clips import centre_crop
from vsinr.ops import degrade


def _rate_point(decoded: list[np.ndarray], target_lumas: list[np.ndarray], size: int, label: str | int,
                seconds: float, extra: dict[str, Any]) -> dict[str, Any]:
    """One rate-distortion point: bits per pixel of a file of ``size`` bytes, PSNR/SSIM-Y, encoding fps."""
    height, width = target_lumas[0].shape[-2:]
    pairs = [(metrics.rgb_to_y(metrics.quantize(d)), y) for d, y in zip(decoded, target_lumas, strict=True)]
    return {"crf": label, "bpp": metrics.bits_per_pixel(size, width, height, len(decoded)),
            "psnr_y": average(metrics.psnr(a, b) for a, b in pairs),
            "ssim_y": average(metrics.ssim(a, b) for a, b in pairs), "fps": len(decoded) / seconds} | extra


def _bd_rate(points_a: list[dict[str, Any]], points_b: list[dict[str, Any]]) -> float:
    """BD-rate (PSNR-Y) of rate points B against rate points A."""
    return metrics.bd_rate([p["bpp"] for p in points_a], [p["psnr_y"] for p in points_a],
                           [p["bpp"] for p in points_b], [p["psnr_y"] for p in points_b])


def evaluate_codec(clips: list[Path], settings: Settings, log: Callable[[str], None] = lambda text: None,
                   methods: list[str] | None = None) -> dict[str, Any]:
    """x264 and x265 rate points on every clip, and those of the installed neural codecs (``methods``, or
    all) at ``settings.codec_sizes``; BD-rates of x265 and of each neural codec against x264 (and x265)."""
    import torch

    from vsinr.runtime.devices import resolve_device

    neural = {name: m.codec() for name, m in plugins.codecs().items() if methods is None or name in methods}  # type: ignore[misc]
    curves: dict[str, dict[str, list[dict[str, Any]]]] = {}
    scratch = Path(os.environ.get("TMPDIR", "/tmp"))
    device = resolve_device("auto")
    for path in clips:
        frames, fps = load_clip(path, settings.max_frames)
        frames = [degrade.modcrop(f, 2) for f in centre_crop(frames, settings.crop)]
        target_lumas = [metrics.rgb_to_y(metrics.quantize(f)) for f in frames]
        source = media.clip_from_arrays(frames, fps)
        curves[path.name] = {}
        for codec in ("libx264", "libx265"):
            points = []
            for crf in settings.crfs:
                target = scratch / f"vsinr-bench-{os.getpid()}-{codec}-{crf}.mkv"
                start = time.perf_counter()
                media.encode(source, target, codec=codec, crf=crf)
                seconds = time.perf_counter() - start
                size = target.stat().st_size
                decoded = media.read_frames(media.open_source(target))
                target.unlink()
                points.append(_rate_point(decoded, target_lumas, size, crf, seconds, {}))
                log(f"codec {path.name:24s} {codec:8s} crf {crf:2d}  {points[-1]['bpp']:.4f} bpp  PSNR-Y {points[-1]['psnr_y']:.2f}")
            curves[path.name][codec] = points
        pixels = torch.from_numpy(np.stack(frames)).float()
        for name, coder in neural.items():
            points = []
            for model_size in settings.codec_sizes:
                target = scratch / f"vsinr-bench-{os.getpid()}-{name}-{model_size}{coder.suffix}"
                start = time.perf_counter()
                options = EncodeOptions(size=model_size, epochs=settings.codec_epochs, device=device)
                measured = coder.encode(pixels, fps, target, options, lambda text: None)
                seconds = time.perf_counter() - start
                size = target.stat().st_size
                start = time.perf_counter()
                opened = coder.open(target, device)
                decoded = [opened.frame(i).cpu().numpy() for i in range(opened.num_frames)]
                decode_fps = len(decoded) / (time.perf_counter() - start)
                target.unlink()
                points.append(_rate_point(decoded, target_lumas, size, model_size, seconds,
                                          {"decode_fps": decode_fps, **dict(measured)}))
                log(f"codec {path.name:24s} {name:8s} {model_size:>5s}  {points[-1]['bpp']:.4f} bpp  "
                    f"PSNR-Y {points[-1]['psnr_y']:.2f}  decode {decode_fps:.1f} fps")
            curves[path.name][name] = points
    bd = {clip: _bd_rate(c["libx264"], c["libx265"]) for clip, c in curves.items()}
    against: dict[str, dict[str, float | None]] = {}
    for clip, c in curves.items():
        for name in neural:
            for reference in ("libx264", "libx265"):
                try:
                    value: float | None = _bd_rate(c[reference], c[name])
                except ValueError:  # fewer than 2 sizes, or curves that do not overlap
                    value = None
                against.setdefault(clip, {})[f"{name} vs {reference}"] = value
    return {"codec": {"curves": curves, "bd_rate_x265_vs_x264": bd, "bd_rate": against}}
