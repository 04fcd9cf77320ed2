"""``vsinr run``, ``demo``, ``frameserve`` and ``fit``: filters on files, the demo, scripts served as y4m."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import click

from vsinr.app.cli.group import cli, encode_clip, graph_error, writing

DEMO_CLIP = "carphone_pristine.mp4"


def _segments_option(value: str | None) -> str | int | float | None:
    from vsinr.app import segments

    if value is None:
        return None
    try:
        return segments.parse_spec(value)
    except segments.SegmentError as exc:
        raise click.BadParameter(str(exc), param_hint="--segments") from None


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("-f", "--filter", "filters", multiple=True, help="e.g. 'STVSR(sscale=2, tscale=4)'; repeatable.")
@click.option("--frames", type=click.IntRange(min=1), help="Only the first N source frames.")
@click.option("--codec", default=None, help="libx264 (default), libx265, libsvtav1, ffv1, ...; .y4m: rawvideo.")
@click.option("--crf", default=16, show_default=True, type=click.IntRange(0, 51))
@click.option("--mask", "mask_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A mask video or image (white where pixels are filled) for the filters that take one, e.g. Inpaint.")
@click.option("--scene-threshold", default=0.1, show_default=True, type=click.FloatRange(0, 1),
              help="Mark a scene cut where the mean luma change between two frames exceeds this (0: no marks); "
                   "temporal filters never blend across a cut.")
@click.option("--segments", "segments_spec", metavar="auto|N|SECONDSs",
              help="Render in segments, with borders at scene cuts where there are some: auto, a count, or a "
                   "length such as 60s. Implied by --jobs and --ray. A stopped run resumes.")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes rendering segments on this machine (with --ray: CPUs of a new local cluster).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]",
              help="Render segments as Ray tasks: on the cluster at ADDRESS (auto: the one this machine belongs to), "
                   "or on a new local one without an address. Needs pip install 'vsinr[ray]'.")
@click.option("--retries", default=2, show_default=True, type=click.IntRange(min=0),
              help="Times a segment is rendered again when its worker dies.")
@click.option("--fit-first", is_flag=True,
              help="Fitted methods (ofsiren, snerv): fit every chunk in a stage of its own before rendering.")
@click.option("--keep-segments", is_flag=True, help="Keep the segment files and the manifest after joining.")
@click.option("--progress", "progress_mode", type=click.Choice(["bar", "json"]), default="bar", show_default=True,
              help="A bar on stderr, or one JSON object per line on stderr (for programs driving vsinr).")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no notes on stderr.")
def run(input_path: Path, output: Path, filters: tuple[str, ...], frames: int | None, codec: str | None, crf: int,
        mask_path: Path | None, scene_threshold: float = 0.1, segments_spec: str | None = None, jobs: int = 1,
        ray_address: str | None = None, retries: int = 2, fit_first: bool = False, keep_segments: bool = False,
        progress_mode: str = "bar", quiet: bool = False) -> None:
    """Decode INPUT, apply the filters, encode to OUTPUT; in segments, in parallel and resumably on request."""
    from vsinr.app import graph

    mode = "quiet" if quiet else progress_mode
    job = graph.Job(str(input_path.resolve()), filters, frames, str(mask_path.resolve()) if mask_path else None,
                    scene_threshold, codec, crf)
    spec = _segments_option(segments_spec)
    if spec is None and (jobs > 1 or ray_address is not None or fit_first):
        spec = "auto"
    graph.forward_log(mode)
    # held from before the graph is built to after the join: a second run on OUTPUT stops at once instead of
    # doing the work again and racing this one for the segment files; workers never take it
    with writing(output, quiet):
        if spec is None:
            try:
                clip = graph.build(job)
            except graph.GraphError as exc:
                raise graph_error(exc) from None
            encode_clip(clip, output, codec, crf, mode)
        else:
            _run_segmented(job, output, spec, jobs, ray_address, retries, fit_first, keep_segments, mode)
    click.echo(str(output))


def _run_segmented(job: Any, output: Path, spec: str | int | float, jobs: int, ray_address: str | None, retries: int,
                   fit_first: bool, keep: bool, mode: str) -> None:
    from vsinr.app import graph, segmented, workers
    from vsinr.io import media

    try:
        media.check_encoder(output, job.codec)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    settings = workers.Settings(spec, jobs, ray_address, retries, fit_first, keep)
    note = (lambda text: None) if mode == "quiet" else (lambda text: click.echo(text, err=True))
    try:
        summary = segmented.run(job, output, settings, mode, note)
    except graph.GraphError as exc:
        raise graph_error(exc) from None
    except workers.RunError as exc:
        raise click.ClickException(str(exc)) from None
    note(f"{summary.frames} frames in {summary.segments} segments ({summary.rendered} rendered, {summary.skipped} "
         f"done before, {summary.retried} retried) in {summary.seconds:.1f} s "
         f"({', '.join(f'{k} {v:.1f} s' for k, v in summary.stages.items())})")


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
    from vsinr.io import media

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

    from vsinr.io import media

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

    from vsinr.io import media

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
