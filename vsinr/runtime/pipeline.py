"""From a validated call to what renders it: the device, the engine, the memory it needs, and windows
(learned and classical methods) or chunks (methods fitted to the clip).

VapourSynth-free: the bridge hands over a ``Plan`` and the precision of the frames, and gets back the
layout of the work and the renderer its scheduler calls. Errors are ``UsageError``s that say what to do.
Imports torch only inside ``build``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vsinr.host.methods import DecodedClip, EngineRequest, Layout, WindowedEngine
from vsinr.serving.scheduling import GROUP, Renderer
from vsinr.serving.tasks import DecodePlan, Plan, UsageError
from vsinr.serving.timing import Chunks, Windows

#: Output frames a filter holds at once besides the engine's own memory: the group being rendered
#: (``vsinr.serving.scheduling``; undelivered groups are evicted first when memory runs short).
HELD_FRAMES = GROUP


@dataclass(frozen=True)
class Pipeline:
    """What a filter runs: ``windows`` (``Chunks`` for fitted methods) and the renderer of one window."""

    windows: Windows
    render: Renderer
    device: str
    backend: str = ""  # where a learned engine's network runs ("torch", "ort", "ov", "trt"; "" without one)


def request_for(plan: Plan, device: str, half_frames: bool) -> EngineRequest:
    """The engine request of ``plan`` on a resolved ``device``; ``half_frames``: the clip is RGBH."""
    from vsinr.runtime import devices

    return EngineRequest(
        call=(("task", plan.function.task), ("sscale", plan.sscale), ("tscale", plan.tscale)),
        device=device,
        half=devices.compute_half(device, half_frames),
        weights=plan.weights,
        params=plan.params,
    )


def build(plan: Plan, half_frames: bool, log: Callable[[str], None]) -> Pipeline:
    """Resolve the device, load (or reuse) the engine and lay out its work; ``log`` takes notes for the user."""
    from vsinr.runtime import inference

    device = _device(plan.device)
    request = request_for(plan, device, half_frames)
    try:
        engine, lock = inference.engine_for(plan.method, request)
    except Exception as exc:  # missing or corrupt weights, missing dependency, out of memory...
        raise UsageError(f"method {plan.method.name!r} failed to load: {type(exc).__name__}: {exc}") from exc
    if plan.method.engine == "fitted":
        return _fitted(plan, engine, lock, request, log)
    return _windowed(plan, engine, lock, request)


def open_decoded(plan: DecodePlan) -> DecodedClip:
    """The file of a ``Decode`` call opened by its codec on the resolved device."""
    from pathlib import Path

    assert plan.method.codec is not None
    device = _device(plan.device)
    try:
        return plan.method.codec().open(Path(plan.path), device)
    except ValueError as exc:  # a missing, foreign or damaged file
        raise UsageError(str(exc)) from None


def _device(spec: str) -> str:
    """``device=`` resolved (``UsageError`` naming the fix when it is not there)."""
    from vsinr.runtime import devices

    try:
        return devices.resolve_device(spec)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _windowed(plan: Plan, engine: WindowedEngine, lock: Any, request: EngineRequest) -> Pipeline:
    from vsinr.runtime import inference

    check_memory(plan, engine.layout, request)
    render = inference.renderer(engine, lock, request)
    layout = engine.layout
    return Pipeline(Windows(plan.timemap, layout.window, layout.step, layout.lead), render, request.device,
                    getattr(engine, "backend", ""))


def _fitted(plan: Plan, engine: Any, lock: Any, request: EngineRequest, log: Callable[[str], None]) -> Pipeline:
    from vsinr.runtime import fitting

    chunks = Chunks(plan.timemap, engine.chunk, engine.chunk - engine.overlap)
    directory = fitting.cache_dir(str(request.param("cache")))
    if directory is not None:  # found out now, not after the first fit
        if directory.exists() and not directory.is_dir():
            raise UsageError(f"cache={str(directory)!r} is a file; give a folder, or cache='off' to keep fits in memory")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cache={str(directory)!r} cannot be made ({exc.strerror}); give a writable folder "
                             "or cache='off'") from None
    store = fitting.store_for(plan.method.name, directory)
    render = fitting.renderer(plan.method.name, engine, lock, request, chunks, store, log)
    return Pipeline(chunks, render, request.device)


def check_memory(plan: Plan, layout: Layout, request: EngineRequest) -> None:
    """Refuse frame sizes whose work cannot fit on the device: the output frames the host holds, and the
    engine's working memory for one whole frame (``Layout.bytes_per_out_pixel``)."""
    from vsinr.runtime import devices

    height, width = plan.out_size
    available = devices.available_memory(request.device)
    frame_bytes = 3 * height * width * (2 if request.half else 4)
    if frame_bytes * HELD_FRAMES > available:
        raise UsageError(
            f"{HELD_FRAMES} output frames of {width}x{height} take {HELD_FRAMES * frame_bytes / 2**30:.2f} GiB and this "
            f"device has {available / 2**30:.2f} GiB available; use a smaller sscale"
        )
    needed = layout.bytes_per_out_pixel * height * width + HELD_FRAMES * frame_bytes
    if needed > available:
        raise UsageError(
            f"method {plan.method.name!r} needs about {needed / 2**30:.2f} GiB for {width}x{height} output frames and "
            f"this device has {available / 2**30:.2f} GiB available: use a device with more memory or a smaller clip"
        )
