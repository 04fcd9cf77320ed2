"""The filters behind the ``vsinr`` functions: one instance per call, its getFrame and free callbacks.

A ``Filter`` requests exactly the source frames of an output's window and renders it through the
scheduler; a ``DecodeFilter`` plays a neural-codec file. Errors become VapourSynth errors on that frame;
nothing raised here may reach the host.
"""

from __future__ import annotations

import ctypes as C
import itertools
import threading
import traceback
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from vsinr.bridge import marshal as M
from vsinr.bridge import vsapi as V
from vsinr.runtime import pipeline
from vsinr.serving import tasks
from vsinr.serving.scheduling import Output, SourceFrame, WindowScheduler

# Module-level so the callbacks outlive every core that may call them.
_lock = threading.Lock()
_filters: dict[int, Filter] = {}
_decoders: dict[int, DecodeFilter] = {}  # Decode's source filters
_next_id = itertools.count(1)


class Filter:
    """One filter instance: its source node (and Inpaint's mask), its plan and the scheduler that renders
    its windows. It owns the nodes it is given, from creation on."""

    def __init__(self, api: V.VSAPI, core: int, node: int, vi: V.VSVideoInfo, plan: tasks.Plan, mask: int | None = None):
        self.api, self.core, self.plan = api, core, plan
        self.node, self.mask = node, mask
        # a one-frame mask serves every frame
        self.still_mask = mask is not None and api.getVideoInfo(mask).contents.numFrames == 1
        try:
            if plan.native_resize:
                resized = M.native_resize(api, core, self.node, plan.out_size, *plan.native_resize)
                api.freeNode(self.node)
                self.node = resized
            self.format = V.VSVideoFormat.from_buffer_copy(vi.format)
            self.dtype = np.float16 if self.format.bitsPerSample == 16 else np.float32
            work = pipeline.build(plan, self.dtype == np.float16, lambda text: self.log(V.MT_INFORMATION, text))
        except BaseException:
            self._free_nodes()
            raise
        self.scheduler = WindowScheduler(work.windows, work.render, self._allocate, api.freeFrame,
                                         scene_change=plan.scene_change)
        self.duration = plan.timemap.duration if plan.temporal else None
        where = f", network in {work.backend}" if work.backend else ""
        self.log(V.MT_INFORMATION, f"method {plan.method.name} on {work.device}{where}")

    def _free_nodes(self) -> None:
        self.api.freeNode(self.node)
        if self.mask is not None:
            self.api.freeNode(self.mask)
            self.mask = None

    def log(self, level: int, text: str) -> None:
        self.api.logMessage(level, f"{self.plan.function.name}: {text}".encode(), self.core)

    def create(self, out_map: int) -> None:
        vi = M.video_info(self.format, self.plan.out_size, self.plan.timemap.num_frames, self.plan.fps_out)
        inputs = [self.node] if self.mask is None else [self.node, self.mask]
        deps = (V.VSFilterDependency * len(inputs))(*(V.VSFilterDependency(n, V.RP_GENERAL) for n in inputs))
        with _lock:
            key = next(_next_id)
            _filters[key] = self
        self.api.createVideoFilter(
            out_map, self.plan.function.name.encode(), C.byref(vi), _GET_FRAME, _FREE, V.FM_PARALLEL, deps, len(inputs), key,
            self.core,
        )

    # getFrame, arAllFramesReady
    def frame(self, n: int, ctx: int) -> int:
        api = self.api
        fetched: dict[int, M.Source] = {}
        try:
            for s in self.scheduler.sources(n):
                mask = None if self.mask is None else api.getFrameFilter(self._mask_frame(s), self.mask, ctx)
                fetched[s] = M.Source(api, api.getFrameFilter(s, self.node, ctx), self.dtype, mask, self.plan.dilate)
            output = self.scheduler.get(n, fetched.__getitem__)
        finally:
            for source in fetched.values():
                source.free()
        self._set_props(output)
        return int(output.frame)

    def _allocate(self, prop_source: SourceFrame) -> tuple[int, Any]:
        """A new output frame with the source's props, and a tensor over its planes."""
        assert isinstance(prop_source, M.Source)  # the scheduler hands back the frames ``frame`` fetched
        height, width = self.plan.out_size
        frame = self.api.newVideoFrame(C.byref(self.format), width, height, prop_source.ptr, self.core)
        return frame, M.planes(self.api, frame, self.dtype, writable=True)

    def _set_props(self, output: Output) -> None:
        if self.duration is None:
            return
        M.set_props(self.api, output.frame, {
            "_DurationNum": self.duration.numerator, "_DurationDen": self.duration.denominator,
            "_AbsoluteTime": None,  # belongs to source frames only
            "_SceneChangePrev": 1 if output.scene_prev else None, "_SceneChangeNext": 1 if output.scene_next else None,
            "VsinrSourceTime": float(output.source_time),
        })

    def _mask_frame(self, s: int) -> int:
        """The mask frame that goes with source frame ``s``."""
        return 0 if self.still_mask else s

    def free(self) -> None:
        self.scheduler.close()
        self._free_nodes()


class DecodeFilter:
    """``Decode``: frames of a neural-codec file, each decoded directly when asked for (random access)."""

    def __init__(self, api: V.VSAPI, core: int, decoded: Any):
        self.api, self.core, self.decoded = api, core, decoded
        self.fps = Fraction(decoded.fps)
        self.format = V.VSVideoFormat()
        if not api.queryVideoFormat(C.byref(self.format), V.CF_RGB, V.ST_FLOAT, 32, 0, 0, core):
            raise RuntimeError("VapourSynth has no RGBS format")

    def create(self, out_map: int) -> None:
        size = (self.decoded.height, self.decoded.width)
        vi = M.video_info(self.format, size, self.decoded.num_frames, self.fps)
        with _lock:
            key = next(_next_id)
            _decoders[key] = self
        # unordered: one frame at a time, which is what one decoder on one device can do anyway
        self.api.createVideoFilter(out_map, b"Decode", C.byref(vi), _DECODE_GET_FRAME, _FREE, V.FM_UNORDERED, None, 0,
                                   key, self.core)

    def frame(self, n: int) -> int:
        import torch

        api = self.api
        with torch.inference_mode():
            image = self.decoded.frame(n).to("cpu", torch.float32)
        frame = api.newVideoFrame(C.byref(self.format), self.decoded.width, self.decoded.height, None, self.core)
        try:
            M.planes(api, frame, np.float32, writable=True).copy_(image)
            M.set_props(api, frame, {"_DurationNum": self.fps.denominator, "_DurationDen": self.fps.numerator,
                                     "_Matrix": 0, "_ColorRange": 0})  # RGB, full range
        except BaseException:
            api.freeFrame(frame)
            raise
        return int(frame)

    def free(self) -> None:
        self.decoded = None


def _get_frame(n: int, reason: int, instance: int, frame_data: int, ctx: int, core: int, vsapi: int) -> int | None:
    filt = _filters.get(instance)
    if filt is None:
        return None
    api = filt.api
    try:
        if reason == V.AR_INITIAL:
            for s in filt.scheduler.sources(n):
                api.requestFrameFilter(s, filt.node, ctx)
                if filt.mask is not None:
                    api.requestFrameFilter(filt._mask_frame(s), filt.mask, ctx)
        elif reason == V.AR_ALL_FRAMES_READY:
            return filt.frame(n, ctx)
    except Exception as exc:
        _frame_error(api, ctx, f"{filt.plan.function.name}: frame {n}", exc, tasks.UsageError)
    return None


def _frame_error(api: V.VSAPI, ctx: int, where: str, exc: Exception, expected: type[Exception]) -> None:
    """Fail the frame request: an ``expected`` error's message, else the internal error and its traceback."""
    detail = str(exc) if isinstance(exc, expected) else f"{exc!r}\n{traceback.format_exc()}"
    api.setFilterError(f"{where}: {detail}".encode(), ctx)


def _decode_get_frame(n: int, reason: int, instance: int, frame_data: int, ctx: int, core: int, vsapi: int
                      ) -> int | None:
    filt = _decoders.get(instance)
    if filt is None or reason != V.AR_INITIAL:  # a source filter makes its frame on the first call
        return None
    try:
        return filt.frame(n)
    except Exception as exc:  # a damaged file's ValueError names what is wrong
        _frame_error(filt.api, ctx, f"Decode: frame {n}", exc, ValueError)
    return None


def free(instance: int, core: int, vsapi: int) -> None:
    with _lock:
        filt: Filter | DecodeFilter | None = _filters.pop(instance, None) or _decoders.pop(instance, None)
    if filt is not None:
        try:
            filt.free()
        except Exception:
            traceback.print_exc()


def guard(fn: Callable[..., Any], fallback: Any = None) -> Callable[..., Any]:
    """Never let a Python exception unwind into the C caller."""

    def guarded(*args: Any) -> Any:
        try:
            return fn(*args)
        except KeyboardInterrupt:  # Ctrl-C: already an "interrupted" error of the call (it cannot unwind through C)
            return fallback
        except BaseException:
            traceback.print_exc()
            return fallback

    return guarded


_GET_FRAME = V.FilterGetFrame(guard(_get_frame))
_DECODE_GET_FRAME = V.FilterGetFrame(guard(_decode_get_frame))
_FREE = V.FilterFree(guard(free))
