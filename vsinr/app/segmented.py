"""Segmented runs: the output timeline split into segments (``vsinr.app.segments``), rendered by worker
processes on this machine or by Ray tasks on a cluster, recorded in a manifest, joined by remuxing.

Every worker builds the run's graph from its ``Job`` once and renders the segments it is given; a
segment's file is written beside its final name and renamed, its digest goes to the manifest, and a
rerun of the same command renders only what is missing. A worker that dies has its segments handed to
a new one (``retries`` times); the output is written only once every segment is there and checked.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from vsinr.app.graph import GraphError, Job
from vsinr.app.progress import Progress
from vsinr.app.segments import Manifest, cut_borders, file_digest, run_key, split, target_length
from vsinr.app.workers import Layout, RunError, Settings, executor
from vsinr.io import remux


@dataclass
class Summary:
    """What a run did."""

    segments: int
    rendered: int
    skipped: int
    frames: int
    seconds: float
    retried: int = 0
    stages: dict[str, float] = field(default_factory=dict)


def layout(job: Job) -> Layout:
    """Build the graph once here, so that errors in the filters are found before any worker starts."""
    import vapoursynth as vs

    from vsinr.app import graph

    clip = graph.build(job)
    source = graph.source(job)
    if clip.fps == 0 or source.fps == 0:
        raise GraphError("a segmented run needs a constant frame rate in and out; give the clip one with AssumeFPS")
    vs.core.clear_cache()
    return Layout(clip.num_frames, Fraction(clip.fps.numerator, clip.fps.denominator), source.num_frames,
                  Fraction(source.fps.numerator, source.fps.denominator))


def run(job: Job, output: Path, settings: Settings, progress_mode: str = "bar",
        note: Callable[[str], None] | None = None) -> Summary:
    """Render ``job`` to ``output`` in segments; see the module's docstring."""
    from vsinr import __version__
    from vsinr.host import plugins

    started = time.monotonic()
    say = note or (lambda text: None)
    shape = layout(job)
    if shape.frames == 0:
        raise GraphError("the filters give no frames")
    description = {"job": job.describe(), "suffix": output.suffix.lower(), "segments": settings.segments,
                   "vsinr": __version__, "plugins": {p.name: p.version for p in plugins.plugins()}}
    key = run_key(description)
    folder = Manifest.folder_for(output)
    manifest = Manifest.load(folder, key)
    if manifest is None:
        if (folder / "manifest.json").exists():
            say(f"{folder}: left by a run of other filters or input; starting over")
        shutil.rmtree(folder, ignore_errors=True)
        manifest = _plan(job, shape, settings, folder, key, output.suffix.lower(), progress_mode)
    stages: dict[str, float] = {"plan": time.monotonic() - started}
    finished = manifest.verified()
    todo = [s for s in manifest.segments if s.index not in manifest.finished]
    if finished:
        say(f"resuming: {len(finished)} of {len(manifest.segments)} segments are done, {len(todo)} to render")
    mark = time.monotonic()
    runner = executor(job, shape, settings, progress_mode)
    stages["start"] = time.monotonic() - mark
    retried = 0
    try:
        if settings.fit_first and todo:
            mark = time.monotonic()
            bar = Progress(sum(s.frames for s in todo), len(todo), progress_mode, label="fitting")
            try:
                retried += runner.run(todo, manifest, bar, encode=False)
            finally:
                bar.close()
            stages["fit"] = time.monotonic() - mark
        mark = time.monotonic()
        bar = Progress(shape.frames, len(manifest.segments), progress_mode)
        try:
            for segment in finished:
                bar.skip(segment.frames)
            retried += runner.run(todo, manifest, bar, encode=True)
        finally:
            bar.close()
        stages["render"] = time.monotonic() - mark
    finally:
        runner.close()
    mark = time.monotonic()
    _join(manifest, output, shape.fps)
    stages["join"] = time.monotonic() - mark
    if not settings.keep:
        manifest.remove()
    return Summary(len(manifest.segments), len(todo), len(finished), shape.frames, time.monotonic() - started, retried,
                   stages)


def _plan(job: Job, shape: Layout, settings: Settings, folder: Path, key: str, suffix: str,
          progress_mode: str) -> Manifest:
    """Find the scene cuts, split the timeline, and write a new manifest."""
    from vsinr.app import graph, scenes

    source_cuts: list[int] = []
    if job.scene_threshold > 0:
        bar = Progress(shape.source_frames, 1, progress_mode, label="scene cuts")
        try:
            source_cuts = scenes.cuts(graph.source(job), job.scene_threshold, bar.advance)
        finally:
            bar.close()
    cuts = cut_borders(source_cuts, shape.fps / shape.source_fps, shape.frames)
    workers = max(1, settings.jobs)
    length = target_length(settings.segments, shape.frames, shape.fps, workers)
    manifest = Manifest(folder, key, suffix, split(shape.frames, length, cuts), cuts)
    folder.mkdir(parents=True, exist_ok=True)
    manifest.save()
    return manifest


def _join(manifest: Manifest, output: Path, fps: Fraction) -> None:
    """Check every segment against its digest and join them into ``output``."""
    missing = [s.index for s in manifest.segments if s.index not in manifest.finished]
    if missing:
        raise RunError(f"segments {missing} are not finished")
    for segment in manifest.segments:
        path = manifest.path(segment)
        if not path.is_file() or file_digest(path) != manifest.finished[segment.index]:
            manifest.finished.pop(segment.index, None)
            manifest.save()
            raise RunError(f"segment file {path} changed on disk after it was rendered; run the same command again "
                           "to render it anew")
    try:
        remux.join([(manifest.path(s), s.frames) for s in manifest.segments], output, fps)
    except remux.JoinError as exc:
        raise RunError(f"cannot join the segments: {exc}") from None
