"""The Python side of the native entry point: registers the ``vsinr`` functions and serves their frames.

``filters/vsinr_entry.c`` calls ``register`` while VapourSynth loads the plugin. Each call is validated
(``vsinr.tasks``) and laid out (``vsinr.pipeline``) into a parallel filter whose getFrame requests exactly
the source frames of the output's window and renders it through the scheduler. Errors become
VapourSynth errors on that call or frame; nothing raised here may reach the host. Importing this module
stays cheap: torch is imported only when a filter is created.
"""

from __future__ import annotations

import ctypes as C
import itertools
import os
import signal
import threading
import traceback
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from vsinr import __version__, pipeline, plugins, tasks
from vsinr import marshal as M
from vsinr import vsapi as V
from vsinr.scheduling import Output, SourceFrame, WindowScheduler

# Module-level so the callbacks outlive every core that may call them.
_lock = threading.Lock()
_filters: dict[int, _Filter] = {}
_decoders: dict[int, _DecodeFilter] = {}  # Decode's source filters
_next_id = itertools.count(1)
_functions: list[tasks.FunctionDef] = []


def register(plugin: int, vspapi: int) -> None:
    """Register the functions of the installed methods on the ``vsinr`` plugin (called from C)."""
    papi = V.plugin_api(vspapi)
    for fn, methods in tasks.served_functions():
        with _lock:
            if fn not in _functions:
                _functions.append(fn)
            index = _functions.index(fn) + 1
        papi.registerFunction(fn.name.encode(), tasks.signature(fn, methods).encode(), b"clip:vnode;", _CREATE, index,
                              plugin)
    if plugins.codecs():
        papi.registerFunction(b"Decode", b"path:data;method:data:opt;device:data:opt;", b"clip:vnode;", _CREATE_DECODE,
                              0, plugin)
    papi.registerFunction(b"Version", b"", b"version:data;path:data;methods:data[];", _VERSION, plugin, plugin)


_held: list[int] = []  # Ctrl-Cs that arrived while a filter was being created
_chained: Any = None  # the SIGINT handler vsinr's stands in front of


def _on_interrupt(signum: int, frame: Any) -> None:
    """SIGINT: held when it lands inside a filter's creation (``_creating``), else handled as the
    handler before this one would. An interrupt in the middle of an import or a model load leaves
    torch half-initialised (later calls fail, the process can crash at exit), and a KeyboardInterrupt
    raised in a callback cannot unwind through VapourSynth's C caller."""
    while frame is not None:
        if frame.f_code is _CREATING:
            _held.append(signum)
            return
        if frame.f_code is _GUARDED:  # a frame or free callback run by the main thread: send it again
            threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()  # once the callback has returned
            return
        frame = frame.f_back
    if callable(_chained):
        _chained(signum, frame)
    elif _chained != signal.SIG_IGN:
        raise KeyboardInterrupt


def _creation(create: Callable[..., None], name: Callable[[int], str]) -> Callable[..., None]:
    """The callback of a function that creates a filter: a Ctrl-C held meanwhile becomes the call's
    error "interrupted" once the creation is whole (the error clears the map, so VapourSynth frees a
    filter just made)."""

    def creating(in_map: int, out_map: int, user_data: int, core: int, vsapi: int) -> None:
        global _chained
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is not _on_interrupt:
            _chained = signal.signal(signal.SIGINT, _on_interrupt)  # signals reach only the main thread
        try:
            create(in_map, out_map, user_data, core, vsapi)
        except BaseException:  # the creation refuses its own errors; this is a KeyboardInterrupt raised by
            _held.append(signal.SIGINT)  # another handler (SIGALRM's, say) before its own try
        if _held:  # nothing above calls into Python after the creation, so no interrupt slips past here
            _held.clear()
            V.api(vsapi).mapSetError(out_map, f"{name(user_data)}: interrupted".encode())

    return creating


def _create(in_map: int, out_map: int, user_data: int, core: int, vsapi: int) -> None:
    api = V.api(vsapi)
    fn = _functions[user_data - 1]
    nodes: list[int] = []  # owned here until the filter takes them
    try:
        err = C.c_int(0)
        nodes.append(api.mapGetNode(in_map, b"clip", 0, C.byref(err)))
        vi = V.VSVideoInfo.from_buffer_copy(api.getVideoInfo(nodes[0]).contents)
        given = M.read_args(api, in_map, fn)
        for arg in fn.args:
            if arg.type == "vnode":  # a second clip (Inpaint's mask): validated by its ClipInfo
                nodes.append(api.mapGetNode(in_map, arg.name.encode(), 0, C.byref(err)))
                given[arg.name] = M.clip_info(api, V.VSVideoInfo.from_buffer_copy(api.getVideoInfo(nodes[-1]).contents))
        plan = tasks.plan(fn, M.clip_info(api, vi), given)
        owned, nodes = nodes, []
        _Filter(api, core, owned[0], vi, plan, owned[1] if len(owned) > 1 else None).create(out_map)
    except (Exception, KeyboardInterrupt) as exc:
        _refuse(api, out_map, fn.name, exc)
    finally:
        for node in nodes:
            api.freeNode(node)


def _create_decode(in_map: int, out_map: int, user_data: int, core: int, vsapi: int) -> None:
    """``Decode(path)``: a source filter that plays a file written by a neural codec (``vsinr encode``)."""
    api = V.api(vsapi)
    try:
        given = {name: M.read_data(api, in_map, name) for name in ("path", "method", "device")}
        plan = tasks.plan_decode(given["path"] or "", given["method"] or "", given["device"] or "auto")
        _DecodeFilter(api, core, pipeline.open_decoded(plan)).create(out_map)
    except (Exception, KeyboardInterrupt) as exc:
        _refuse(api, out_map, "Decode", exc)


def _refuse(api: V.VSAPI, out_map: int, function: str, exc: BaseException) -> None:
    """Make a failed filter creation the call's error: the usage error's advice, or the internal error."""
    if isinstance(exc, tasks.UsageError):
        text = f"{function}: {exc}"
    elif isinstance(exc, KeyboardInterrupt):  # Ctrl-C cannot unwind through the C caller: end the call
        text = f"{function}: interrupted"
    else:
        text = f"{function}: internal error: {exc!r}\n{traceback.format_exc()}"
    api.mapSetError(out_map, text.encode())


def _version(in_map: int, out_map: int, user_data: int, core: int, vsapi: int) -> None:
    api = V.api(vsapi)
    path = api.getPluginPath(user_data) or b""
    api.mapSetData(out_map, b"version", __version__.encode(), -1, 1, V.MA_REPLACE)
    api.mapSetData(out_map, b"path", path, -1, 1, V.MA_REPLACE)
    for name in plugins.methods():
        api.mapSetData(out_map, b"methods", name.encode(), -1, 1, V.MA_APPEND)


class _Filter:
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
        self.log(V.MT_INFORMATION, f"method {plan.method.name} on {work.device}")

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
                fetched[s] = M.Source(api, api.getFrameFilter(s, self.node, ctx), self.dtype, mask)
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


class _DecodeFilter:
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


def _free(instance: int, core: int, vsapi: int) -> None:
    with _lock:
        filt: _Filter | _DecodeFilter | None = _filters.pop(instance, None) or _decoders.pop(instance, None)
    if filt is not None:
        try:
            filt.free()
        except Exception:
            traceback.print_exc()


def _guard(fn: Callable[..., Any], fallback: Any = None) -> Callable[..., Any]:
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


_CREATE = V.PublicFunction(_creation(_create, lambda index: _functions[index - 1].name))
_VERSION = V.PublicFunction(_guard(_version))
_CREATE_DECODE = V.PublicFunction(_creation(_create_decode, lambda index: "Decode"))
_CREATING = _creation(_create, str).__code__  # the code of every creation callback, for _on_interrupt
_GUARDED = _guard(_free).__code__  # and of every other callback
_GET_FRAME = V.FilterGetFrame(_guard(_get_frame))
_DECODE_GET_FRAME = V.FilterGetFrame(_guard(_decode_get_frame))
_FREE = V.FilterFree(_guard(_free))
