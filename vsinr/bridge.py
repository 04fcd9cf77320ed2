"""The Python side of the native entry point: registers the ``vsinr`` functions and serves their frames.

``filters/vsinr_entry.c`` calls ``register`` while VapourSynth loads the plugin. Functions are built from
the installed method plugins; each call validates its arguments (``vsinr.tasks``), then creates a
parallel filter whose getFrame requests exactly the source frames of the output's window and renders
the window through the scheduler. Errors become VapourSynth errors on that call or frame; nothing
raised here may reach the host.

Importing this module must stay cheap: torch is imported only when a filter is created.
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

from vsinr import __version__, plugins, tasks
from vsinr import vsapi as V
from vsinr.methods import EngineRequest
from vsinr.scheduling import Output, WindowScheduler
from vsinr.timing import Windows

_FORMAT_NAMES = {(V.CF_RGB, V.ST_FLOAT, 32): "RGBS", (V.CF_RGB, V.ST_FLOAT, 16): "RGBH"}

# Module-level so the callbacks outlive every core that may call them.
_lock = threading.Lock()
_filters: dict[int, _Filter] = {}
_next_id = itertools.count(1)
_functions: list[tasks.FunctionDef] = []
_plugin_paths: dict[int, str] = {}


def register(plugin: int, vspapi: int) -> None:
    """Register the functions of the installed methods on the ``vsinr`` plugin (called from C)."""
    papi = V.plugin_api(vspapi)
    _plugin_paths[plugin] = ""
    for fn, methods in tasks.served_functions():
        with _lock:
            if fn not in _functions:
                _functions.append(fn)
            index = _functions.index(fn) + 1
        papi.registerFunction(
            fn.name.encode(), tasks.signature(fn, methods).encode(), b"clip:vnode;", _CREATE, index, plugin
        )
    papi.registerFunction(
        b"Version", b"", b"version:data;path:data;methods:data[];", _VERSION, plugin, plugin
    )


def _api(address: int) -> V.VSAPI:
    return V.api(address)


# ---------------------------------------------------------------------------------------------- creation


def _create(in_map: int, out_map: int, user_data: int, core: int, vsapi: int) -> None:
    api = _api(vsapi)
    fn = _functions[user_data - 1]
    try:
        err = C.c_int(0)
        node = api.mapGetNode(in_map, b"clip", 0, C.byref(err))
        try:
            vi = V.VSVideoInfo.from_buffer_copy(api.getVideoInfo(node).contents)
            plan = tasks.plan(fn, _clip_info(api, vi), _read_args(api, in_map, fn))
        except BaseException:
            api.freeNode(node)
            raise
        _Filter(api, core, node, vi, plan).create(out_map)  # the filter owns the node from here
    except tasks.UsageError as exc:
        api.mapSetError(out_map, f"{fn.name}: {exc}".encode())
    except Exception as exc:
        api.mapSetError(out_map, f"{fn.name}: internal error: {exc!r}\n{traceback.format_exc()}".encode())


def _version(in_map: int, out_map: int, user_data: int, core: int, vsapi: int) -> None:
    api = _api(vsapi)
    path = api.getPluginPath(user_data) or b""
    api.mapSetData(out_map, b"version", __version__.encode(), -1, 1, V.MA_REPLACE)
    api.mapSetData(out_map, b"path", path, -1, 1, V.MA_REPLACE)
    for name in plugins.methods():
        api.mapSetData(out_map, b"methods", name.encode(), -1, 1, V.MA_APPEND)


def _read_args(api: V.VSAPI, in_map: int, fn: tasks.FunctionDef) -> dict[str, Any]:
    """The arguments the caller gave (absent ones are left out, so defaults apply later)."""
    types = {arg.name: arg.type for arg in fn.args}
    types |= {p.name: p.type for p in tasks.method_params(plugins.methods_for(fn.task)) if p.name not in types}
    given: dict[str, Any] = {}
    err = C.c_int(0)
    for name, kind in types.items():
        key = name.encode()
        count = api.mapNumElements(in_map, key)
        if count < 0:
            continue
        if kind == "int":
            given[name] = api.mapGetInt(in_map, key, 0, C.byref(err))
        elif kind == "int[]":
            given[name] = [api.mapGetInt(in_map, key, i, C.byref(err)) for i in range(count)]
        elif kind == "float":
            given[name] = api.mapGetFloat(in_map, key, 0, C.byref(err))
        else:
            size = api.mapGetDataSize(in_map, key, 0, C.byref(err))
            given[name] = C.string_at(api.mapGetData(in_map, key, 0, C.byref(err)), size).decode()
    return given


def _clip_info(api: V.VSAPI, vi: V.VSVideoInfo) -> tasks.ClipInfo:
    fmt = vi.format
    name = _FORMAT_NAMES.get((fmt.colorFamily, fmt.sampleType, fmt.bitsPerSample), "")
    if not name and fmt.colorFamily:
        buf = C.create_string_buffer(32)
        api.getVideoFormatName(C.byref(fmt), buf)
        name = buf.value.decode()
    fps = Fraction(vi.fpsNum, vi.fpsDen) if vi.fpsNum > 0 and vi.fpsDen > 0 else Fraction(0)
    return tasks.ClipInfo(name, vi.width, vi.height, vi.numFrames, fps)


# ---------------------------------------------------------------------------------------------- filters


class _Filter:
    """One filter instance: its source node, its plan and the scheduler that renders its windows."""

    def __init__(self, api: V.VSAPI, core: int, node: int, vi: V.VSVideoInfo, plan: tasks.Plan):
        self.api, self.core, self.plan = api, core, plan
        self.node = node
        try:
            self._setup(vi)
        except BaseException:
            api.freeNode(self.node)
            raise

    def _setup(self, vi: V.VSVideoInfo) -> None:
        from vsinr import devices, inference
        from vsinr.tiling import TileGrid

        api, plan = self.api, self.plan
        if plan.native_resize:
            resized = self._native_resize(self.node, *plan.native_resize)
            api.freeNode(self.node)
            self.node = resized
        self.format = V.VSVideoFormat.from_buffer_copy(vi.format)
        self.dtype = np.float16 if self.format.bitsPerSample == 16 else np.float32
        try:
            device = devices.resolve_device(plan.device)
        except ValueError as exc:
            raise tasks.UsageError(str(exc)) from None
        request = EngineRequest(
            task=plan.function.task,
            sscale=plan.sscale,
            tscale=plan.tscale,
            device=device,
            half=devices.compute_half(device, self.dtype == np.float16),
            weights=plan.weights,
            params=plan.params,
        )
        engine, lock = inference.engine_for(plan.method, request)
        src_vi = api.getVideoInfo(self.node).contents
        in_size = (src_vi.height, src_vi.width)
        overlap = engine.halo if plan.tile_overlap < 0 else plan.tile_overlap
        grid = TileGrid(in_size, plan.out_size, plan.tile, overlap)
        problem = grid.refusal()
        if problem:
            raise tasks.UsageError(problem)
        windows = Windows(plan.timemap, engine.window, engine.step)
        self.scheduler = WindowScheduler(
            windows, inference.renderer(engine, lock, request, grid), scene_change=plan.scene_change
        )
        self.duration = plan.timemap.duration if plan.temporal else None
        self.log(V.MT_INFORMATION, f"{plan.function.name}: method {plan.method.name} on {device}")

    def log(self, level: int, text: str) -> None:
        self.api.logMessage(level, text.encode(), self.core)

    def _native_resize(self, node: int, function: str, extra: dict[str, Any]) -> int:
        """A new node: ``node`` resized to the output size by VapourSynth's resize plugin."""
        api = self.api
        height, width = self.plan.out_size
        args = api.createMap()
        try:
            api.mapSetNode(args, b"clip", node, V.MA_REPLACE)
            api.mapSetInt(args, b"width", width, V.MA_REPLACE)
            api.mapSetInt(args, b"height", height, V.MA_REPLACE)
            for key, value in extra.items():
                if isinstance(value, str):
                    api.mapSetData(args, key.encode(), value.encode(), -1, 1, V.MA_REPLACE)
                elif isinstance(value, float):
                    api.mapSetFloat(args, key.encode(), value, V.MA_REPLACE)
                else:
                    api.mapSetInt(args, key.encode(), int(value), V.MA_REPLACE)
            plugin = api.getPluginByNamespace(b"resize", self.core)
            result = api.invoke(plugin, function.encode(), args)
            try:
                error = api.mapGetError(result)
                if error:
                    raise tasks.UsageError(f"resize.{function} failed: {error.decode()}")
                err = C.c_int(0)
                return int(api.mapGetNode(result, b"clip", 0, C.byref(err)))
            finally:
                api.freeMap(result)
        finally:
            api.freeMap(args)

    def create(self, out_map: int) -> None:
        vi = V.VSVideoInfo()
        vi.format = self.format
        height, width = self.plan.out_size
        vi.width, vi.height = width, height
        vi.numFrames = self.plan.timemap.num_frames
        fps = self.plan.fps_out
        vi.fpsNum, vi.fpsDen = (fps.numerator, fps.denominator) if fps else (0, 0)
        deps = (V.VSFilterDependency * 1)(V.VSFilterDependency(self.node, V.RP_GENERAL))
        with _lock:
            key = next(_next_id)
            _filters[key] = self
        self.api.createVideoFilter(
            out_map, self.plan.function.name.encode(), C.byref(vi), _GET_FRAME, _FREE, V.FM_PARALLEL, deps, 1, key,
            self.core,
        )

    # getFrame, arAllFramesReady
    def frame(self, n: int, ctx: int) -> int:
        api = self.api
        fetched: dict[int, _Source] = {}
        try:
            for s in self.scheduler.sources(n):
                fetched[s] = _Source(api, api.getFrameFilter(s, self.node, ctx), self.dtype)
            output = self.scheduler.get(n, fetched.__getitem__)
            return self._write(output, fetched[output.prop_source].ptr)
        finally:
            for source in fetched.values():
                api.freeFrame(source.ptr)

    def _write(self, output: Output, prop_src: int) -> int:
        api = self.api
        height, width = self.plan.out_size
        frame = api.newVideoFrame(C.byref(self.format), width, height, prop_src, self.core)
        image = output.image.numpy()
        if image.dtype != self.dtype:
            image = image.astype(self.dtype)
        itemsize = np.dtype(self.dtype).itemsize
        for plane in range(3):
            stride = api.getStride(frame, plane)
            buf = (C.c_char * (stride * height)).from_address(api.getWritePtr(frame, plane))
            dst = np.frombuffer(buf, self.dtype).reshape(height, stride // itemsize)[:, :width]
            np.copyto(dst, image[plane])
        props = api.getFramePropertiesRW(frame)
        if self.duration is not None:
            api.mapSetInt(props, b"_DurationNum", self.duration.numerator, V.MA_REPLACE)
            api.mapSetInt(props, b"_DurationDen", self.duration.denominator, V.MA_REPLACE)
            api.mapDeleteKey(props, b"_AbsoluteTime")  # belongs to source frames only
            for key, value in ((b"_SceneChangePrev", output.scene_prev), (b"_SceneChangeNext", output.scene_next)):
                if value:
                    api.mapSetInt(props, key, 1, V.MA_REPLACE)
                else:
                    api.mapDeleteKey(props, key)
            api.mapSetFloat(props, b"VsinrSourceTime", float(output.source_time), V.MA_REPLACE)
        return int(frame)

    def free(self) -> None:
        self.api.freeNode(self.node)
        self.scheduler = None  # type: ignore[assignment]


class _Source:
    """A fetched source frame, read lazily as a (3, H, W) CPU tensor."""

    __slots__ = ("api", "ptr", "dtype")

    def __init__(self, api: V.VSAPI, ptr: int, dtype: type):
        self.api, self.ptr, self.dtype = api, ptr, dtype

    def image(self) -> Any:
        import torch

        api, itemsize = self.api, np.dtype(self.dtype).itemsize
        planes = []
        for plane in range(3):
            width, height = api.getFrameWidth(self.ptr, plane), api.getFrameHeight(self.ptr, plane)
            stride = api.getStride(self.ptr, plane)
            buf = (C.c_char * (stride * height)).from_address(api.getReadPtr(self.ptr, plane))
            view = np.frombuffer(buf, self.dtype).reshape(height, stride // itemsize)[:, :width]
            planes.append(torch.from_numpy(view))
        return torch.stack(planes)

    def flag(self, key: str) -> bool:
        err = C.c_int(0)
        value = self.api.mapGetInt(self.api.getFramePropertiesRO(self.ptr), key.encode(), 0, C.byref(err))
        return err.value == 0 and value != 0


# ---------------------------------------------------------------------------------------------- callbacks


def _get_frame(n: int, reason: int, instance: int, frame_data: int, ctx: int, core: int, vsapi: int) -> int | None:
    filt = _filters.get(instance)
    if filt is None:
        return None
    api = filt.api
    try:
        if reason == V.AR_INITIAL:
            for s in filt.scheduler.sources(n):
                api.requestFrameFilter(s, filt.node, ctx)
        elif reason == V.AR_ALL_FRAMES_READY:
            return filt.frame(n, ctx)
    except Exception as exc:
        detail = str(exc) if isinstance(exc, tasks.UsageError) else f"{exc!r}\n{traceback.format_exc()}"
        api.setFilterError(f"{filt.plan.function.name}: frame {n}: {detail}".encode(), ctx)
    return None


def _free(instance: int, core: int, vsapi: int) -> None:
    with _lock:
        filt = _filters.pop(instance, None)
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
        except BaseException:
            traceback.print_exc()
            return fallback

    return guarded


_CREATE = V.PublicFunction(_guard(_create))
_VERSION = V.PublicFunction(_guard(_version))
_GET_FRAME = V.FilterGetFrame(_guard(_get_frame))
_FREE = V.FilterFree(_guard(_free))
