"""The ``vsinr`` command group and what its commands share: option parsing, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from vsinr import __version__
from vsinr.host import plugins


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


def graph_error(exc: Exception) -> click.ClickException:
    """A ``GraphError`` as the CLI's error: a bad option's value, or a plain error."""
    option = getattr(exc, "option", None)
    return click.BadParameter(str(exc), param_hint=option) if option else click.ClickException(str(exc))


def crop_size(crop: str | None) -> tuple[int, int] | None:
    """``--crop WxH`` as (width, height); None when not given."""
    from vsinr.io import clips

    if not crop:
        return None
    try:
        return clips.parse_size(crop)
    except clips.ClipError as exc:
        raise click.BadParameter(str(exc), param_hint="--crop") from None


def device_option(device: str) -> str:
    """The device a ``--device`` value names, or a clear error when it is not there."""
    from vsinr.runtime.devices import resolve_device

    try:
        return resolve_device(device)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--device") from None


@contextmanager
def writing(output: Path, quiet: bool = False) -> Iterator[None]:
    """Hold ``output`` for this command (one writer per output, ``vsinr.io.files.output_lock``): a second
    command writing the same file stops at once with a one-line error naming this one."""
    from vsinr.io.files import OutputBusy, output_lock

    note = None if quiet else (lambda text: click.echo(f"vsinr: {text}", err=True))
    with ExitStack() as stack:
        try:
            stack.enter_context(output_lock(output, note=note))
        except OutputBusy as exc:  # only the lock's own refusal: errors of the work below pass unchanged
            raise click.ClickException(str(exc)) from None
        yield


def encode_clip(clip: Any, output: Path, codec: str | None, crf: int, progress: str = "bar") -> None:
    import vapoursynth as vs

    from vsinr.app.progress import Progress
    from vsinr.io import media

    if progress != "quiet":
        click.echo(f"{clip.width}x{clip.height}, {clip.num_frames} frames at {clip.fps} fps → {output}", err=True)
    bar = Progress(clip.num_frames, 1, progress, label="encoding")
    try:
        media.encode(clip, output, codec=codec, crf=crf, progress=bar.advance)
    except (vs.Error, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
