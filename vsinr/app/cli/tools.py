"""The ``vsinr`` commands for measuring and maintaining methods: ``bench``, ``compare`` and ``weights``
(registered on ``vsinr.app.cli.group.cli``)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from vsinr import __version__
from vsinr.app.cli.group import cli, crop_size
from vsinr.host import plugins

#: a path that leaves the working folder (absolute, or through ..): its folders are left out of records
_OUTSIDE = re.compile(r"(?<![\w./])(?:/|\.\./)(?:[^\s/,:=']+/)*")


def portable_command(command: str) -> str:
    """``command`` with every path outside the working folder reduced to its file name, so a recorded
    command names the files without the machine's own folders (``../data/a.mp4`` → ``a.mp4``)."""
    return _OUTSIDE.sub("", command)


@cli.command()
@click.argument("clips", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-t", "--task", "tasks", multiple=True, type=click.Choice(["stvsr", "stvsr-noise", "stvsr-jpeg", "interpolate", "noise", "jpeg", "inpaint", "codec"]),
              help="Repeatable; default: stvsr, interpolate, noise, jpeg.")
@click.option("-m", "--method", "methods", multiple=True, help="vsinr methods to compare (default: all installed); NAME:KEY=VALUE,... passes arguments, e.g. videoinr:weights=w.safetensors.")
@click.option("--no-baselines", is_flag=True, help="Only vsinr methods.")
@click.option("--sscale", default=4, show_default=True, help="stvsr spatial scale.")
@click.option("--tscale", default=2, show_default=True, help="stvsr time scale.")
@click.option("--factor", default=2, show_default=True, help="interpolate factor.")
@click.option("--max-frames", type=click.IntRange(min=2), help="Use only the first N frames of each clip.")
@click.option("--crop", metavar="WxH", help="Use only the centre WxH of each clip (bounds CPU time on large clips).")
@click.option("--quality", "qualities", multiple=True, type=click.IntRange(1, 100),
              help="JPEG qualities for jpeg tasks (repeatable; default 10, 20, 30, 40).")
@click.option("--codec-size", "codec_sizes", multiple=True,
              help="Neural codecs' model sizes for the codec task (repeatable; default 0.35M, 0.75M, 1.5M, 3M).")
@click.option("--crf", "crfs", multiple=True, type=click.IntRange(0, 51),
              help="x264/x265 CRFs for the codec task (repeatable; default 20, 26, 32, 38, 44, 50).")
@click.option("--codec-epochs", default=300, show_default=True, type=click.IntRange(min=1),
              help="Fitting epochs of the neural codecs.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write all numbers here.")
@click.option("--markdown", "md_path", type=click.Path(dir_okay=False, path_type=Path), help="Write tables here.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Codec RD plot (PNG).")
def bench(clips: tuple[Path, ...], tasks: tuple[str, ...], methods: tuple[str, ...], no_baselines: bool, sscale: int,
          tscale: int, factor: int, max_frames: int | None, crop: str | None, qualities: tuple[int, ...],
          codec_sizes: tuple[str, ...], crfs: tuple[int, ...], codec_epochs: int, json_path: Path | None, md_path: Path | None, plot_path: Path | None) -> None:
    """Measure vsinr methods and classical baselines on CLIPS with the evaluation protocol."""
    import platform
    import shlex
    import subprocess

    from vsinr.evaluation import benchmark, rate_distortion, report

    defaults = benchmark.Settings()
    settings = benchmark.Settings(sscale=sscale, tscale=tscale, factor=factor, max_frames=max_frames, crop=crop_size(crop),
                                  codec_epochs=codec_epochs, qualities=qualities or defaults.qualities,
                                  codec_sizes=codec_sizes or defaults.codec_sizes, crfs=crfs or defaults.crfs)
    paths = [Path(c) for c in clips]
    for path in paths:
        if not path.is_file():
            raise click.ClickException(f"clip not found: {path}")
    results: dict[str, Any] = {}
    log = lambda text: click.echo(text, err=True)  # noqa: E731
    try:
        for task in tasks or benchmark.DEFAULT_TASKS:
            if task == "codec":
                results |= rate_distortion.evaluate_codec(paths, settings, log, list(methods) or None)
            else:
                results |= benchmark.evaluate(task, paths, settings, list(methods) or None, not no_baselines, log)
    except benchmark.BenchError as exc:
        raise click.ClickException(str(exc)) from None
    command = portable_command("vsinr bench " + " ".join(shlex.quote(a) for a in sys.argv[2:]))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    meta = {"command": command, "commit": commit, "vsinr": __version__, "machine": platform.processor() or platform.machine(),
            "settings": settings.__dict__}
    header = (f"# vsinr benchmark\n\nProduced by `{command}` (commit {commit or 'unknown'}, vsinr {__version__}, "
              f"{platform.machine()} CPU, {os.cpu_count()} cores).\nPSNR/SSIM on 8-bit-quantised frames; Y is BT.601; "
              f"STVSR crops {sscale} border pixels; interpolation scores the odd (interpolated) frames only. fps: output "
              f"frames per second in a pass that only makes them, after a one-frame warm-up; first frame s: that warm-up "
              f"(loading, and for fitted methods fitting the first chunk unless the cache holds it), per shot; peak MiB: the rise of the "
              f"process's resident memory during that pass. Clips are split at scene cuts (shots in results.json). "
              f"Files outside the working folder are named by their file name.")
    text = report.markdown(results, header)
    if md_path:
        report.write_text(text, md_path)
    if json_path:
        report.write_json(results, meta, json_path)
    if plot_path and "codec" in results:
        report.plot_codec(results["codec"], plot_path)
    if not md_path:
        click.echo(text)


@cli.command()
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def compare(old: Path, new: Path) -> None:
    """Show how the averages of two ``vsinr bench --json`` files differ (e.g. across commits)."""
    from vsinr.evaluation import report

    try:
        click.echo(report.compare(json.loads(old.read_text()), json.loads(new.read_text())))
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"not a vsinr bench JSON file: {exc}") from None


@cli.group("weights")
def weights_group() -> None:
    """Inspect and convert method weights."""


@weights_group.command("convert")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-m", "--method", default="videoinr", show_default=True, help="The method the checkpoint is for.")
@click.option("--half/--fp32", default=False,
              help="Store float16: half the size, and outputs that move (the difference is measured and printed). "
                   "Default: float32, the checkpoint's own values.")
def weights_convert(source: Path, target: Path, method: str, half: bool) -> None:
    """Convert an official .pth checkpoint (VideoINR's latest_G.pth, ZSM's xiang2020zooming.pth) into our
    .safetensors, checked against the architecture; the header records the checkpoint's SHA-256."""
    import hashlib
    import tempfile

    from vsinr.runtime import weights

    converters = {name: spec.convert for name, spec in plugins.methods().items() if spec.convert is not None}
    if method not in converters:
        raise click.ClickException(f"no converter for method {method!r}; methods with one: {', '.join(converters)}")
    if target.suffix != ".safetensors":
        raise click.ClickException(f"the target must end in .safetensors, got {target.name}")
    try:
        model = converters[method](source)
    except weights.WeightsError as exc:
        raise click.ClickException(str(exc)) from None
    digest = hashlib.sha256()
    with source.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    origin = {"file": source.name, "sha256": digest.hexdigest()}
    if not half:
        weights.save(target, model.state_dict(), method, model.config, half=False, source=origin)
    else:
        with tempfile.TemporaryDirectory() as folder:
            full = Path(folder) / "fp32.safetensors"
            weights.save(full, model.state_dict(), method, model.config, half=False, source=origin)
            weights.save(target, model.state_dict(), method, model.config, half=True, source=origin)
            max_d, psnr = _half_difference(method, full, target)
        click.echo(f"float16 against float32 on a test pattern (STVSR ×4 ×2, 64x48): max |d| {max_d:.2e}, "
                   f"PSNR {psnr:.1f} dB", err=True)
    click.echo(str(target))


def _half_difference(method: str, full: Path, half: Path) -> tuple[float, float]:
    """How far STVSR ×4 ×2 of a smooth moving pattern moves from float32 weights to float16 ones."""
    from fractions import Fraction

    import numpy as np
    import vapoursynth as vs

    from vsinr.io import media

    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    pattern = [np.stack([0.5 + 0.3 * np.sin((x + 2 * n) / (5 + c) + y / (7 - c)) for c in range(3)]) for n in range(4)]
    clip = media.clip_from_arrays(pattern, Fraction(24), vs.RGBS)
    a, b = (np.stack(media.read_frames(vs.core.vsinr.STVSR(clip, 4, 2, method=method, weights=str(w))))
            for w in (full, half))
    mse = float(np.mean((a - b) ** 2))
    return float(np.abs(a - b).max()), 10 * np.log10(1 / mse) if mse > 0 else float("inf")


@cli.command("export")
@click.argument("method")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The ONNX file; a method with several networks writes OUTPUT's stem + _PART + .onnx for each.")
@click.option("--weights", default="", help="Weights to export (default: the method's bundled default).")
@click.option("--task", default="stvsr", show_default=True, help="Whose default weights (zsm: stvsr or denoise).")
@click.option("--degradation", default="auto", show_default=True, help="zsm: clean, noise or jpeg (auto: by task).")
def export(method: str, output: Path, weights: str, task: str, degradation: str) -> None:
    """Write METHOD's network(s) as ONNX: dynamic height and width, float32 weights, the input layout in
    the metadata (``vsinr_input_layout``), checked with onnx.checker. Prints the files written as JSON."""
    from vsinr.runtime import backends

    spec = plugins.methods().get(method)
    if spec is None:
        raise click.BadParameter(f"{method!r} is not installed (installed: {', '.join(plugins.methods())})", param_hint="METHOD")
    if spec.networks is None:
        exporting = [m.name for m in plugins.methods().values() if m.networks is not None]
        raise click.BadParameter(f"{method} has no network to export (methods that do: {', '.join(exporting)})",
                                 param_hint="METHOD")
    try:
        parts = list(spec.networks(weights, {"task": task, "degradation": degradation}))
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{method}: {exc}") from None
    written = []
    for part in parts:
        path = output if len(parts) == 1 else output.with_name(f"{output.stem}_{part.name.rsplit('_', 1)[-1]}{output.suffix}")
        backends.export(part, path)
        written.append({"file": str(path), "part": part.name, "channels": part.channels, "layout": part.layout})
    click.echo(json.dumps(written, indent=1))
