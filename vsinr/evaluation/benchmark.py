"""The evaluation harness: every method and the classical baselines measured the same way on real clips.

Protocol (the same for every method, so that numbers compare):
- ``stvsr``: ground truth = the clip (cropped to multiples of sscale); input = every tscale-th frame
  downscaled by sscale with MATLAB-style antialiased bicubic; every frame reconstructed and scored, with
  interpolated and source-aligned frames reported apart; ``sscale`` border pixels cropped.
- ``interpolate``: input = even frames; odd frames scored (as "interp"), even ones apart.
- ``noise``: Gaussian noise plus 10% salt-and-pepper; ``jpeg``: JPEG at each quality (restoration at
  the source size, by ``Denoise``).
- ``stvsr-noise`` / ``stvsr-jpeg``: the ``stvsr`` protocol with those degradations applied to the
  low-resolution input frames (Zooming SlowMo's restoration setting), by ``STVSR(..., degradation=)``.
- ``codec``: x264 / x265 rate points (bits per pixel over the frames' area) and BD-rate.
Clips are split at scene cuts first, so a cut never sits inside a reconstructed interval. Every score is
computed here from frames this run produced; a missing clip, a clip too short for the protocol or a
method that is not installed is an error, never a gap filled in.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import vapoursynth as vs

from vsinr.evaluation import baselines, learned, metrics
from vsinr.host import plugins
from vsinr.io import media
from vsinr.io.clips import ClipError, centre_crop, load
from vsinr.ops import degrade

DEFAULT_TASKS = ("stvsr", "interpolate", "noise", "jpeg")


class BenchError(RuntimeError):
    """A benchmark that cannot be run as asked; the message says why."""


@dataclass(frozen=True)
class Settings:
    sscale: int = 4
    tscale: int = 2
    factor: int = 2
    sigma: float = 10 / 255
    impulse: float = 0.1
    qualities: tuple[int, ...] = (10, 20, 30, 40)
    crfs: tuple[int, ...] = (20, 26, 32, 38, 44, 50)  # down to where a small neural codec's curve can reach
    codec_sizes: tuple[str, ...] = ("0.35M", "0.75M", "1.5M", "3M")  # neural codecs' model sizes
    codec_epochs: int = 300
    max_frames: int | None = None
    crop: tuple[int, int] | None = None  # (width, height) of a centre crop of every clip, to bound CPU time
    cut_threshold: float = 0.08
    seed: int = 0
    learned: bool = True  # RIFE and SRMD baselines (stvsr, interpolate) where their packages are installed


@dataclass
class Case:
    """One degraded input of one shot and what its outputs are compared with."""

    inputs: list[np.ndarray]
    targets: list[np.ndarray]
    interpolated: set[int]  # output indices that fall between inputs
    border: int
    only_interpolated: bool = False  # score only the interpolated frames (frame interpolation)
    mask: np.ndarray | None = None  # in-painting: True where pixels are missing, (H, W) or per frame (T, H, W)
    extra: dict[str, Any] = field(default_factory=dict)


#: BM3D's sigma (0-255) for the error level of JPEG at each quality
JPEG_SIGMA = {10: 12.0, 20: 9.0, 30: 7.0, 40: 6.0}

#: builds the output clip from the input clip (and, for in-painting, the hole mask)
Runner = Callable[..., vs.VideoNode]


# ------------------------------------------------------------------------------------------ clips


def load_clip(path: Path, max_frames: int | None) -> tuple[list[np.ndarray], Fraction]:
    """A clip's frames as float RGB, and its frame rate (``vsinr.io.clips.load``, failing as a ``BenchError``)."""
    try:
        return load(path, max_frames)
    except ClipError as exc:
        raise BenchError(str(exc)) from None


def split_shots(frames: list[np.ndarray], threshold: float) -> list[range]:
    """Shots between scene cuts: a cut where the mean absolute luma change exceeds ``threshold`` and five
    times the clip's median change."""
    if len(frames) < 2:
        return [range(len(frames))]
    luma = [metrics.rgb_to_y(f) for f in frames]
    diffs = np.array([float(np.mean(np.abs(luma[i + 1] - luma[i]))) for i in range(len(frames) - 1)])
    limit = max(threshold, 5 * float(np.median(diffs)))
    cuts = [i + 1 for i, d in enumerate(diffs) if d > limit]
    bounds = [0, *cuts, len(frames)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


# ------------------------------------------------------------------------------------------ cases


def make_case(task: str, shot: list[np.ndarray], settings: Settings, rng: np.random.Generator, **kw: Any) -> Case | None:
    """The degraded input of ``task`` for one shot (None when the shot is too short for the protocol)."""
    if task.startswith("stvsr"):
        s, t = settings.sscale, settings.tscale
        length = (len(shot) - 1) // t * t + 1
        if length < t + 1:
            return None
        gt = [degrade.modcrop(f, s) for f in shot[:length]]
        inputs = [degrade.imresize(gt[i], 1 / s) for i in range(0, length, t)]
        if task == "stvsr-noise":
            inputs = [degrade.add_noise(f, rng, settings.sigma, settings.impulse) for f in inputs]
        elif task == "stvsr-jpeg":
            inputs = [degrade.jpeg(f, kw["quality"]) for f in inputs]
        return Case(inputs, gt, {k for k in range(length) if k % t}, border=s)
    if task == "interpolate":
        f = settings.factor
        length = (len(shot) - 1) // f * f + 1
        if length < f + 1:
            return None
        interpolated = {k for k in range(length) if k % f}
        return Case(shot[0:length:f], shot[:length], interpolated, border=0, only_interpolated=True)
    if task == "noise":
        noisy = [degrade.add_noise(f, rng, settings.sigma, settings.impulse) for f in shot]
        return Case(noisy, shot, set(), border=0)
    if task == "jpeg":
        return Case([degrade.jpeg(f, kw["quality"]) for f in shot], shot, set(), border=0)
    if task == "inpaint":
        height, width = shot[0].shape[-2:]
        mask = degrade.hole_masks(height, width, rng, frames=len(shot))[kw["holes"]]
        holed = [np.where(_mask_of(mask, k), 0.0, f).astype(np.float32) for k, f in enumerate(shot)]
        return Case(holed, shot, set(), border=0, mask=mask)
    raise BenchError(f"unknown task {task!r}")


# ------------------------------------------------------------------------------------------ runners


def _vsinr_methods(task: str) -> list[str]:
    function_task = {"stvsr": "stvsr", "stvsr-noise": "stvsr", "stvsr-jpeg": "stvsr", "interpolate": "interpolate",
                     "noise": "denoise", "jpeg": "denoise", "inpaint": "inpaint"}[task]
    found = plugins.methods_for(function_task)
    if task.startswith("stvsr-"):  # only methods that take the degradation into account
        found = [m for m in found if any(p.name == "degradation" for p in m.params)]
    return [m.name for m in found]


def _method_entry(entry: str) -> tuple[str, str, dict[str, str]]:
    """``NAME`` or ``NAME:KEY=VALUE,...`` (e.g. ``videoinr:weights=w.safetensors``) → (label, name, arguments).

    The label shows paths by file stem so that tables stay narrow."""
    name, _, rest = entry.partition(":")
    extra = dict(item.split("=", 1) for item in rest.split(",") if "=" in item)
    shown = ",".join(f"{k}={Path(v).stem if k == 'weights' else v}" for k, v in extra.items())
    return f"vsinr:{name}" + (f"[{shown}]" if shown else ""), name, extra


def runners(task: str, settings: Settings, methods: Iterable[str] | None, use_baselines: bool, **kw: Any) -> dict[str, Runner]:
    """The vsinr methods (``vsinr:<name>``, with extra arguments as ``NAME:KEY=VALUE,...``) and baselines
    compared on ``task``; a named method that does not serve ``task`` is left out of it."""
    installed = _vsinr_methods(task)
    chosen = [_method_entry(m) for m in (installed if methods is None else methods)]
    unknown = [name for _, name, _ in chosen if name not in plugins.methods()]
    if unknown:
        raise BenchError(f"method(s) {', '.join(unknown)} not installed (installed: {', '.join(plugins.methods())})")
    chosen = [c for c in chosen if c[1] in installed]  # a named method is compared on the tasks it serves
    s, t, f = settings.sscale, settings.tscale, settings.factor
    found: dict[str, Runner] = {}
    for label, name, extra in chosen:
        if task == "stvsr":
            found[label] = lambda c, n=name, x=extra: vs.core.vsinr.STVSR(c, s, t, method=n, **x)
        elif task.startswith("stvsr-"):
            kind = task.split("-")[1]
            found[label] = lambda c, n=name, x=extra, d=kind: vs.core.vsinr.STVSR(c, s, t, method=n, degradation=d, **x)
        elif task == "interpolate":
            found[label] = lambda c, n=name, x=extra: vs.core.vsinr.Interpolate(c, f, method=n, **x)
        elif task == "inpaint":
            found[label] = lambda c, mask, n=name, x=extra: vs.core.vsinr.Inpaint(c, media.mask_clip(mask, c), method=n, **x)
        else:
            found[label] = lambda c, n=name, x=extra: vs.core.vsinr.Denoise(c, method=n, degradation=task, **x)
    if not use_baselines:
        if not found:
            raise BenchError(f"nothing to compare for {task}: no vsinr method is installed and baselines are off")
        return found

    def bicubic_blend(c: vs.VideoNode) -> vs.VideoNode:  # what restoring pipelines end with at ×s ×t
        return baselines.blend(baselines.resize(c, s), t)

    def spline_flowfps(c: vs.VideoNode) -> vs.VideoNode:  # the best classical pipeline a user would assemble
        return baselines.flowfps(baselines.resize(c, s, "Spline36"), t)

    if task == "stvsr":
        found |= {
            "bicubic+repeat": lambda c: baselines.repeat(baselines.resize(c, s), t),
            "bicubic+blend": bicubic_blend,
            "spline36+blend": lambda c: baselines.blend(baselines.resize(c, s, "Spline36"), t),
            "spline36+flowfps": lambda c: baselines.flowfps(baselines.resize(c, s, "Spline36"), t),
        }
        if settings.learned:
            found |= learned.bench_runners(task, s, t, f)
    elif task == "stvsr-noise":
        sigma255 = settings.sigma * 255
        found |= {
            "bicubic+blend": bicubic_blend,
            "median3>bicubic+blend": lambda c: bicubic_blend(baselines.median(c)),
            "median3+bm3d>bicubic+blend": lambda c: bicubic_blend(baselines.bm3d(baselines.median(c), sigma255)),
            "median3+bm3d>spline36+flowfps": lambda c: spline_flowfps(baselines.bm3d(baselines.median(c), sigma255)),
        }
    elif task == "stvsr-jpeg":
        sigma255 = JPEG_SIGMA.get(kw["quality"], 8.0)
        found |= {
            "bicubic+blend": bicubic_blend,
            "bm3d>bicubic+blend": lambda c: bicubic_blend(baselines.bm3d(c, sigma255)),
            "bm3d>spline36+flowfps": lambda c: spline_flowfps(baselines.bm3d(c, sigma255)),
        }
    elif task == "interpolate":
        found |= {
            "repeat": lambda c: baselines.repeat(c, f),
            "blend": lambda c: baselines.blend(c, f),
            "flowfps": lambda c: baselines.flowfps(c, f),
        }
        if settings.learned:
            found |= learned.bench_runners(task, s, t, f)
    elif task == "noise":
        sigma255 = settings.sigma * 255
        found |= {
            "noisy input": lambda c: c,
            "median3": baselines.median,
            "median3+bm3d": lambda c: baselines.bm3d(baselines.median(c), sigma255),
        }
    elif task == "inpaint":
        found |= {"regionfill": baselines.regionfill, "temporal median": baselines.temporal_median}
    elif task == "jpeg":
        sigma255 = JPEG_SIGMA.get(kw["quality"], 8.0)
        found |= {"jpeg input": lambda c: c, "bm3d": lambda c: baselines.bm3d(c, sigma255)}
    return found


# ------------------------------------------------------------------------------------------ measuring


def _cuda() -> Any:
    """torch.cuda when a method has already brought torch in and a GPU is present (else None)."""
    torch = sys.modules.get("torch")
    return torch.cuda if torch is not None and torch.cuda.is_available() else None


def _reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _rss_mb(field: str) -> float:
    """VmRSS or VmHWM (peak since the last reset) of this process, in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def _mask_of(mask: np.ndarray, k: int) -> np.ndarray:
    """Frame k's holes of an (H, W) mask (the same for every frame) or a (T, H, W) one."""
    return mask if mask.ndim == 2 else mask[k]


def run_case(runner: Runner, case: Case, fps: Fraction) -> dict[str, Any]:
    """Run one runner on one case: the time to the first frame (loading, and fitting for fitted methods
    whose cache does not hold the fit), then speed and peak memory from a pass that only makes the
    frames, then per-frame scores from a second pass on a fresh instance (so nothing is served from the
    first one's cache)."""
    clip = media.clip_from_arrays(case.inputs, fps)
    args = () if case.mask is None else (case.mask,)
    start = time.perf_counter()
    runner(clip, *args).get_frame(0)  # warm-up on a throwaway instance: imports, engine loading, allocators, fits
    first = time.perf_counter() - start
    out = runner(clip, *args)
    if out.num_frames < len(case.targets):
        raise BenchError(f"produced {out.num_frames} frames, the protocol needs {len(case.targets)}")
    out = out[: len(case.targets)]
    cuda = _cuda()
    if cuda:
        cuda.reset_peak_memory_stats()
    before = _rss_mb("VmRSS")
    _reset_peak_rss()
    start = time.perf_counter()
    for _ in out.frames():  # timed pass: making the frames only (they are dropped at once)
        pass
    seconds = time.perf_counter() - start
    peak = _rss_mb("VmHWM") - before
    gpu_peak = cuda.max_memory_allocated() / 2**20 if cuda else math.nan
    frames = [np.round(np.clip(f, 0, 1) * 255).astype(np.uint8) for f in media.read_frames(runner(clip, *args)[: out.num_frames])]
    rows = []
    for k, (got, want) in enumerate(zip(frames, case.targets, strict=True)):
        if case.only_interpolated and k not in case.interpolated:
            continue
        got_f, want_f = got.astype(np.float64) / 255, metrics.quantize(want)
        if got_f.shape != want_f.shape:
            raise BenchError(f"frame {k} is {got_f.shape}, the ground truth {want_f.shape}")
        got_f, want_f = metrics.crop(got_f, case.border), metrics.crop(want_f, case.border)
        y_got, y_want = metrics.rgb_to_y(got_f), metrics.rgb_to_y(want_f)
        rows.append({
            "frame": k,
            "interpolated": k in case.interpolated,
            "psnr_y": metrics.psnr(y_got, y_want),
            "ssim_y": metrics.ssim(y_got, y_want),
            "psnr_rgb": metrics.psnr(got_f, want_f),
            "ssim_rgb": metrics.ssim(got_f, want_f),
        })
        if case.mask is not None:
            holes = _mask_of(case.mask, k)
            rows[-1]["psnr_y_holes"] = metrics.psnr(y_got[holes], y_want[holes])
            rows[-1]["ssim_y_holes"] = metrics.ssim(y_got, y_want, mask=holes)
            rows[-1]["psnr_rgb_holes"] = metrics.psnr(got_f[:, holes], want_f[:, holes])
    return {"frames": rows, "produced": out.num_frames, "seconds": seconds, "first_s": first, "peak_mb": peak,
            "gpu_peak_mb": gpu_peak}


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Means over frames: all, interpolated only and source-aligned only (where there are any)."""
    summary: dict[str, float] = {}
    for key in ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "psnr_y_holes", "ssim_y_holes", "psnr_rgb_holes"):
        if key not in rows[0]:
            continue
        summary[key] = average(r[key] for r in rows)
        interp = [r[key] for r in rows if r["interpolated"]]
        if interp and len(interp) < len(rows):
            summary[f"{key}_interp"] = average(interp)
            summary[f"{key}_aligned"] = average(r[key] for r in rows if not r["interpolated"])
    return summary


def average(values: Iterable[float]) -> float:
    """The mean of PSNR-like values (NaN ones, which measure nothing, left out); NaN for none."""
    values = [100.0 if v == math.inf else v for v in values if not math.isnan(v)]  # identical frames (inf dB): 100 dB
    return float(np.mean(values)) if values else math.nan


def evaluate(
    task: str,
    clips: list[Path],
    settings: Settings,
    methods: list[str] | None = None,
    use_baselines: bool = True,
    log: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """Run ``task`` on every clip; returns, per variant (one per JPEG quality), per-clip and averaged
    results for every runner."""
    variants: list[dict[str, Any]] = [{}]
    if task in ("jpeg", "stvsr-jpeg"):
        variants = [{"quality": q} for q in settings.qualities]
    elif task == "inpaint":
        variants = [{"holes": "fixed"}, {"holes": "random"}, {"holes": "moving"}]
    labels = [task if not v else f"{task} {' '.join(f'{k[0]}{val}' if k == 'quality' else str(val) for k, val in v.items())}"
              for v in variants]
    tables = [runners(task, settings, methods, use_baselines, **v) for v in variants]  # fail before any work
    per_clip: dict[str, dict[str, dict[str, Any]]] = {label: {} for label in labels}
    for path in clips:
        frames, fps = load_clip(path, settings.max_frames)
        frames = centre_crop(frames, settings.crop)
        shots = split_shots(frames, settings.cut_threshold)
        for label, variant, table in zip(labels, variants, tables, strict=True):
            rng = np.random.default_rng(settings.seed)
            cases = [(shot, make_case(task, [frames[i] for i in shot], settings, rng, **variant)) for shot in shots]
            usable = [(shot, case) for shot, case in cases if case is not None]
            if not usable:
                raise BenchError(f"{path.name}: no shot is long enough for {label} ({len(frames)} frames)")
            entry: dict[str, Any] = {"shots": [[s.start, s.stop] for s, _ in usable]}
            for name, runner in table.items():
                rows, produced, seconds, first, peak, gpu_peak = [], 0, 0.0, 0.0, 0.0, math.nan
                for shot, case in usable:
                    try:
                        outcome = run_case(runner, case, fps)
                    except (vs.Error, RuntimeError) as exc:
                        raise BenchError(f"{name} on {path.name}: {exc}") from None
                    rows += [r | {"frame": r["frame"] + shot.start} for r in outcome["frames"]]
                    seconds += outcome["seconds"]
                    first += outcome["first_s"]
                    produced += outcome["produced"]
                    peak = max(peak, outcome["peak_mb"])
                    gpu_peak = np.fmax(gpu_peak, outcome["gpu_peak_mb"])
                entry[name] = summarize(rows) | {"fps": produced / seconds, "first_s": first / len(usable), "peak_mb": peak,
                                                   "frames": len(rows)}
                if not math.isnan(gpu_peak):
                    entry[name]["gpu_peak_mb"] = float(gpu_peak)
                log(f"{label:14s} {path.name:24s} {name:18s} PSNR-Y {entry[name]['psnr_y']:6.2f}  "
                    f"{entry[name]['fps']:7.1f} fps  first frame {entry[name]['first_s']:.1f} s")
            per_clip[label][path.name] = entry
    results: dict[str, Any] = {}
    for label, table in zip(labels, tables, strict=True):
        clips_done = per_clip[label]
        keys = [k for k in clips_done[next(iter(clips_done))][next(iter(table))] if k != "frames"]
        averages = {name: {k: average(clips_done[c][name][k] for c in clips_done) for k in keys} for name in table}
        results[label] = {"clips": clips_done, "average": averages, "runners": list(table)}
    return results
