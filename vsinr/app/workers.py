"""The worker side of segmented runs: any process that renders segments (``render``), and the executors
that hand segments to worker processes on this machine or to Ray tasks on a cluster.

``Settings``, ``Layout`` and ``RunError`` are the vocabulary the driver (``vsinr.app.segmented``) and its
workers share.
"""

from __future__ import annotations

import concurrent.futures as futures
import logging
import multiprocessing
import os
import queue as queues
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from vsinr.app.graph import GraphError, Job
from vsinr.app.progress import Progress
from vsinr.app.segments import Manifest, Segment, SegmentError, file_digest


class RunError(RuntimeError):
    """A segmented run that could not finish (workers that keep dying, an unreachable cluster, a
    changed input); what was finished stays in the manifest for the next run."""


@dataclass(frozen=True)
class Settings:
    """How a run is split and where its segments render."""

    segments: str | int | float = "auto"
    jobs: int = 1
    ray: str | None = None  # a cluster address, "" to start one on this machine; None: no Ray
    retries: int = 2
    fit_first: bool = False
    keep: bool = False


@dataclass(frozen=True)
class Layout:
    """What the main process learns from the graph: the output's length and rate, the source's."""

    frames: int
    fps: Fraction
    source_frames: int
    source_fps: Fraction



# --- rendering a segment, in any process --------------------------------------------

_built: dict[Job, Any] = {}


def _graph(job: Job) -> Any:
    """The job's clip, built once per process (a worker keeps its loaded models between segments)."""
    from vsinr.app import graph

    if job not in _built:
        _built.clear()
        _built[job] = graph.build(job)
    return _built[job]


def render(job: Job, shape: Layout, segment: Segment, path: str, encode: bool,
           report: Callable[[int], None] | None = None) -> str:
    """Render ``segment`` of ``job`` to ``path`` (or, without ``encode``, only request its frames, so
    that the fits it needs are made); returns the file's SHA-256 ("" without ``encode``)."""
    import vapoursynth as vs

    from vsinr.io import media

    clip = _graph(job)
    fps = Fraction(clip.fps.numerator, clip.fps.denominator) if clip.fps else Fraction(0)
    if (clip.num_frames, fps) != (shape.frames, shape.fps):
        raise RunError(f"on this worker the filters give {clip.num_frames} frames at {fps} fps, not {shape.frames} at "
                       f"{shape.fps}: the input differs from the one the run was planned on (is it shared?)")
    part = clip[segment.start : segment.stop]
    try:
        if not encode:
            for frame in part.frames(close=True):
                del frame
                if report:
                    report(1)
            return ""
        media.encode(part, Path(path), codec=job.codec, crf=job.crf, progress=report)
    except (vs.Error, ValueError) as exc:  # a frame the filters refused; an encoder the container refused
        raise GraphError(f"segment {segment.index} (frames {segment.start}-{segment.stop - 1}): {exc}") from None
    return file_digest(Path(path))


_reports: Any = None


def _start_worker(reports: Any, threads: int, mode: str) -> None:
    """Initialise a local worker process: its queue of progress reports, its share of the cores, its
    messages on stderr."""
    global _reports
    _reports = reports
    import torch
    import vapoursynth as vs

    from vsinr.app import graph

    graph.forward_log(mode)
    torch.set_num_threads(threads)
    vs.core.num_threads = threads


def _local_task(job: Job, shape: Layout, segment: Segment, path: str, encode: bool) -> str:
    return render(job, shape, segment, path, encode, lambda n: _reports.put((segment.index, n)))


def _ray_task(job: Job, shape: Layout, segment: Segment, path: str, encode: bool, reports: Any) -> str:
    """A Ray task: render one segment on whatever node Ray chose, reporting frames in batches."""
    import torch
    import vapoursynth as vs

    threads = max(1, int(os.environ.get("OMP_NUM_THREADS") or 1))
    torch.set_num_threads(threads)
    vs.core.num_threads = threads
    pending = [0, time.monotonic()]

    def report(n: int) -> None:
        pending[0] += n
        if time.monotonic() - pending[1] > 0.25:
            reports.put((segment.index, pending[0]))
            pending[:] = [0, time.monotonic()]

    digest = render(job, shape, segment, path, encode, report)
    if pending[0]:
        reports.put((segment.index, pending[0]))
    return digest


# --- executors: where segments render ---------------------------------------------------------------


class _Executor:
    """Renders a list of segments, recording each finished one in the manifest; returns retries."""

    def run(self, todo: list[Segment], manifest: Manifest, bar: Progress, encode: bool) -> int:
        raise NotImplementedError

    def close(self) -> None:
        pass


def executor(job: Job, shape: Layout, settings: Settings, mode: str) -> _Executor:
    if settings.ray is not None:
        return _RayExecutor(job, shape, settings)
    if settings.jobs > 1:
        return _PoolExecutor(job, shape, settings, mode)
    return _InlineExecutor(job, shape)


def _finish(manifest: Manifest, segment: Segment, digest: str, encode: bool) -> None:
    if encode:
        manifest.finished[segment.index] = digest
        manifest.save()


class _InlineExecutor(_Executor):
    """Segments one after another in this process."""

    def __init__(self, job: Job, shape: Layout):
        self.job, self.shape = job, shape

    def run(self, todo: list[Segment], manifest: Manifest, bar: Progress, encode: bool) -> int:
        for segment in todo:
            before = bar.frames
            digest = render(self.job, self.shape, segment, str(manifest.path(segment)), encode, bar.advance)
            _finish(manifest, segment, digest, encode)
            bar.segment_done(bar.frames - before, segment.frames)
        return 0


class _PoolExecutor(_Executor):
    """Segments in ``jobs`` worker processes on this machine (started fresh, not forked: a forked
    VapourSynth core or torch thread pool is not safe to use). The workers, with their loaded models,
    serve every stage; a pool whose worker died is replaced."""

    def __init__(self, job: Job, shape: Layout, settings: Settings, mode: str):
        self.job, self.shape, self.settings, self.mode = job, shape, settings, mode
        self.context = multiprocessing.get_context("spawn")
        # a share of the cores each: frames do not depend on the thread count (vsinr.nn.pointwise)
        self.threads = max(1, (os.cpu_count() or 1) // settings.jobs)
        self.reports = self.context.Queue()
        self.pool: futures.ProcessPoolExecutor | None = None

    def run(self, todo: list[Segment], manifest: Manifest, bar: Progress, encode: bool) -> int:
        pending = list(todo)
        deaths = 0
        while pending:
            if self.pool is None:
                self.pool = futures.ProcessPoolExecutor(self.settings.jobs, mp_context=self.context,
                                                        initializer=_start_worker,
                                                        initargs=(self.reports, self.threads, self.mode))
            done_frames: dict[int, int] = {}
            broken = False
            try:
                submitted = {self.pool.submit(_local_task, self.job, self.shape, s, str(manifest.path(s)), encode): s
                             for s in pending}
                waiting = set(submitted)
                while waiting:
                    finished, waiting = futures.wait(waiting, timeout=0.2, return_when=futures.FIRST_COMPLETED)
                    _drain(self.reports, done_frames, bar)
                    for future in finished:
                        segment = submitted[future]
                        try:
                            digest = future.result()
                        except futures.process.BrokenProcessPool:
                            broken = True
                            continue
                        _drain(self.reports, done_frames, bar)
                        _finish(manifest, segment, digest, encode)
                        bar.segment_done(done_frames.pop(segment.index, 0), segment.frames)
                        pending.remove(segment)
            except BaseException:
                self.close(stop=True)  # an error or Ctrl-C: the other workers' segments are not waited for
                raise
            if not broken:
                break
            self.close(stop=True)
            for frames in done_frames.values():
                bar.retract(frames)
            deaths += 1
            if deaths > self.settings.retries:
                raise RunError(f"a worker process died {deaths} times (killed, or out of memory); {len(pending)} "
                               "segments are left: run the same command again to resume")
            bar.note(f"a worker process died; rendering its {len(pending)} unfinished segments again")
        return deaths

    def close(self, stop: bool = False) -> None:
        """Let the workers exit (``stop``: terminate them at once)."""
        if self.pool is not None:
            if stop:
                _stop(self.pool)
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _stop(pool: futures.ProcessPoolExecutor) -> None:
    """Terminate a pool's worker processes (the executor has no public way to stop running tasks)."""
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()


def _drain(reports: Any, done_frames: dict[int, int], bar: Progress) -> None:
    """Count the frames workers reported since the last call."""
    while True:
        try:
            index, frames = reports.get_nowait()
        except (queues.Empty, EOFError, OSError):
            return
        done_frames[index] = done_frames.get(index, 0) + frames
        bar.advance(frames)


class _RayExecutor(_Executor):
    """Segments as Ray tasks: each asks for a GPU when the device is CUDA, and is retried by Ray when
    its worker dies."""

    def __init__(self, job: Job, shape: Layout, settings: Settings):
        try:
            import ray
        except ImportError:
            raise RunError("--ray needs Ray: pip install 'vsinr[ray]'") from None
        self.ray, self.job, self.shape, self.settings = ray, job, shape, settings
        self.started_here = not ray.is_initialized()
        if self.started_here:
            _check_reachable(settings.ray or "")
            try:
                if settings.ray:
                    ray.init(address=settings.ray, log_to_driver=False, logging_level=logging.ERROR)
                else:
                    ray.init(num_cpus=max(1, settings.jobs) if settings.jobs > 1 else None, log_to_driver=False,
                             logging_level=logging.ERROR, include_dashboard=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RunError(f"cannot reach the Ray cluster at {settings.ray or 'a new local one'}: {exc}; start one "
                               "with `ray start --head`, or leave --ray out") from None
        devices = _devices(job)
        cuda = any(d.startswith("cuda") for d in devices) or (devices != {"cpu"} and _cluster_has_gpus(ray))
        self.task = ray.remote(_ray_task).options(num_cpus=1, num_gpus=1 if cuda else 0, max_retries=settings.retries)

    def run(self, todo: list[Segment], manifest: Manifest, bar: Progress, encode: bool) -> int:
        from ray.util.queue import Queue

        ray = self.ray
        reports = Queue()
        done_frames: dict[int, int] = {}
        refs = {self.task.remote(self.job, self.shape, s, str(manifest.path(s).resolve()), encode, reports): s
                for s in todo}
        waiting = list(refs)
        try:
            while waiting:
                ready, waiting = ray.wait(waiting, num_returns=1, timeout=0.2)
                _drain_ray(reports, done_frames, bar)
                for ref in ready:
                    segment = refs[ref]
                    try:
                        digest = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        cause = exc.cause if isinstance(exc.cause, Exception) else exc
                        if isinstance(cause, GraphError | RunError | SegmentError | OSError):
                            raise cause from None
                        raise RunError(f"segment {segment.index} failed on the cluster: {cause}") from None
                    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
                        raise RunError(f"segment {segment.index}: its worker died {self.settings.retries + 1} times "
                                       f"({type(exc).__name__}); run the same command again to resume") from None
                    _drain_ray(reports, done_frames, bar)
                    _finish(manifest, segment, digest, encode)
                    bar.segment_done(done_frames.pop(segment.index, 0), segment.frames)
        finally:
            for ref in waiting:
                ray.cancel(ref, force=True)
            reports.shutdown(force=True)
        return 0

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def _drain_ray(reports: Any, done_frames: dict[int, int], bar: Progress) -> None:
    try:
        items: Iterable[tuple[int, int]] = reports.get_nowait_batch(reports.qsize())
    except Exception:  # the queue's actor is gone (the run is ending)
        return
    for index, frames in items:
        done_frames[index] = done_frames.get(index, 0) + frames
        bar.advance(frames)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse a cluster address (``host:port`` or ``ray://host:port``) that does not answer within
    ``timeout`` seconds: Ray itself would retry for minutes."""
    import re
    import socket

    match = re.fullmatch(r"(?:ray://)?\[?([^\]/]+?)\]?:(\d+)", address or "")
    if match is None:  # "auto", or a new local cluster
        return
    try:
        socket.create_connection((match.group(1), int(match.group(2))), timeout=timeout).close()
    except OSError as exc:
        raise RunError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start one with "
                       "`ray start --head` and give the address it prints, or leave --ray out") from None


def _devices(job: Job) -> set[str]:
    """The ``device=`` values of the job's filters ("auto" for those that give none)."""
    from vsinr.app import filterspec

    found = set()
    for text in job.filters:
        try:
            found.add(str(filterspec.parse(text).kwargs.get("device", "auto")))
        except ValueError:
            found.add("auto")
    return found or {"auto"}


def _cluster_has_gpus(ray: Any) -> bool:
    return float(ray.cluster_resources().get("GPU", 0)) > 0
