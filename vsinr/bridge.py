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
from vsinr.timing import Chunks, Windows

_FORMAT_NAMES = {(V.CF_RGB, V.ST_FLOAT, 32): "RGBS", (V.CF_RGB, V.ST_FLOAT, 16): "RGBH"}

# Module-level so the callbacks outlive every core that may call them.
_lock = threading.Lock()
_filters: dict[int, _Filter | _DecodeFilter] = {}
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
        papi.registerFunction(
            fn.name.encode(), tasks.signature(fn, methods).encode(), b"clip:vnode;", _CREATE, index, plugin
        )
    if plugins.codecs():
        papi.registerFunction(
            b"Decode", b"path:data;method:data:opt;device:data:opt;", b"clip:vnode;", _CREATE_DECODE, 0, plugin
        )
    papi.registerFunction(
        b"Version", b"", b"version:data;path:data;methods:data[];", _VERSION, plugin, plugin
    )


# ---------------------------------------------------------------------------------------------- creation


def _create(in_map: int, out_map: int, user_data: int, core: int, vsapi: int) -> None:
    api = V.api(vsapi)
    fn = _functions[user_data - 1]
    nodes: list[int] = []  # owned here until the filter takes them
    try:
        err = C.c_int(0)
        nodes.append(api.mapGetNode(in_map, b"clip", 0, C.byref(err)))
        vi = V.VSVideoInfo.from_buffer_copy(api.getVideoInfo(nodes[0]).contents)
        given = _read_args(api, in_map, fn)
        for arg in fn.args:
            if arg.type == "vnode":  # a second clip (Inpaint's mask): validated by its ClipInfo
                nodes.append(api.mapGetNode(in_map, arg.name.encode(), 0, C.byref(err)))
                given[arg.name] = _clip_info(api, V.VSVideoInfo.from_buffer_copy(api.getVideoInfo(nodes[-1]).contents))
        plan = tasks.plan(fn, _clip_info(api, vi), given)
        owned, nodes = nodes, []
        _Filter(api, core, owned[0], vi, plan, owned[1] if len(owned) > 1 else None).create(out_map)
    except tasks.UsageError as exc:
        api.mapSetError(out_map, f"{fn.name}: {exc}".encode())
    except KeyboardInterrupt:
        api.mapSetError(out_map, f"{fn.name}: interrupted".encode())
    except Exception as exc:
        api.mapSetError(out_map, f"{fn.name}: internal error: {exc!r}\n{traceback.format_exc()}".encode())
    finally:
        for node in nodes:
            api.freeNode(node)


def _create_decode(in_map: int, out_map: int, user_data: int, core: int, vsapi: int) -> None:
    """``Decode(path)``: a source filter that plays a file written by a neural codec (``vsinr encode``)."""
    from pathlib import Path

    from vsinr import devices

    api = V.api(vsapi)
    try:
        given = {name: _read_data(api, in_map, name) for name in ("path", "method", "device")}
        plan = tasks.plan_decode(given["path"] or "", given["method"] or "", given["device"] or "auto")
        try:
            device = devices.resolve_device(plan.device)
            decoded = plan.method.codec().open(Path(plan.path), device)  # type: ignore[misc]
        except ValueError as exc:  # a missing, foreign or damaged file; a device that is not there
            raise tasks.UsageError(str(exc)) from None
        _DecodeFilter(api, core, decoded).create(out_map)
    except tasks.UsageError as exc:
        api.mapSetError(out_map, f"Decode: {exc}".encode())
    except KeyboardInterrupt:
        api.mapSetError(out_map, b"Decode: interrupted")
    except Exception as exc:
        api.mapSetError(out_map, f"Decode: internal error: {exc!r}\n{traceback.format_exc()}".encode())


def _read_data(api: V.VSAPI, in_map: int, name: str) -> str | None:
    """A data (string) argument, or None when it was not given."""
    err = C.c_int(0)
    key = name.encode()
    if api.mapNumElements(in_map, key) < 1:
        return None
    size = api.mapGetDataSize(in_map, key, 0, C.byref(err))
    return C.string_at(api.mapGetData(in_map, key, 0, C.byref(err)), size).decode()


def _version(in_map: int, out_map: int, user_data: int, core: int, vsapi: int) -> None:
    api = V.api(vsapi)
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
        if kind == "vnode":
            continue
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
        elif (text := _read_data(api, in_map, name)) is not None:
            given[name] = text
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
    """One filter instance: its source node (and Inpaint's mask), its plan and the scheduler that renders
    its windows. It owns the nodes it is given, from creation on."""

    def __init__(self, api: V.VSAPI, core: int, node: int, vi: V.VSVideoInfo, plan: tasks.Plan, mask: int | None = None):
        self.api, self.core, self.plan = api, core, plan
        self.node, self.mask = node, mask
        # a one-frame mask serves every frame
        self.still_mask = mask is not None and api.getVideoInfo(mask).contents.numFrames == 1
        try:
            self._setup(vi)
        except BaseException:
            self._free_nodes()
            raise

    def _free_nodes(self) -> None:
        self.api.freeNode(self.node)
        if self.mask is not None:
            self.api.freeNode(self.mask)
            self.mask = None

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
        try:
            engine, lock = inference.engine_for(plan.method, request)
        except Exception as exc:  # missing or corrupt weights, missing dependency, out of memory...
            raise tasks.UsageError(f"method {plan.method.name!r} failed to load: {type(exc).__name__}: {exc}") from exc
        if hasattr(engine, "fit"):  # fitted to the clip itself, chunk by chunk
            render, windows = self._fitted(engine, lock, request)
        else:
            src_vi = api.getVideoInfo(self.node).contents
            in_size = (src_vi.height, src_vi.width)
            if plan.tile != (0, 0) and not getattr(engine, "tiles", True):
                raise tasks.UsageError(
                    f"method {plan.method.name!r} sees whole frames (motion estimation, recurrent alignment) and does not "
                    "tile: tiles would not equal the whole frame's output; leave tile empty"
                )
            overlap = engine.halo if plan.tile_overlap < 0 else plan.tile_overlap
            tile = self._tile(engine, device, in_size)
            grid = TileGrid(in_size, plan.out_size, tile, overlap)
            problem = grid.refusal()
            if problem:
                raise tasks.UsageError(problem)
            render = inference.renderer(engine, lock, request, grid)
            windows = Windows(plan.timemap, engine.window, engine.step, engine.lead)
        self.scheduler = WindowScheduler(
            windows,
            render,
            self._allocate,
            api.freeFrame,
            scene_change=plan.scene_change,
        )
        self.duration = plan.timemap.duration if plan.temporal else None
        self.log(V.MT_INFORMATION, f"{plan.function.name}: method {plan.method.name} on {device}")

    def _fitted(self, engine: Any, lock: threading.Lock, request: EngineRequest) -> tuple[Any, Chunks]:
        """The renderer and chunk layout of a fitted method (fitting waits for the first frame request)."""
        from vsinr import fitting

        plan = self.plan
        if plan.tile != (0, 0):
            raise tasks.UsageError(f"method {plan.method.name!r} fits whole frames and does not tile; leave tile empty")
        if plan.temporal and plan.timemap.num_source < 2:
            raise tasks.UsageError(f"method {plan.method.name!r} fits a clip's motion and needs at least 2 frames")
        chunks = Chunks(plan.timemap, engine.chunk, engine.chunk - engine.overlap)
        store = fitting.store_for(plan.method.name, fitting.cache_dir(str(request.param("cache"))))
        label = plan.function.name

        def log(text: str) -> None:
            self.log(V.MT_INFORMATION, f"{label}: {text}")

        return fitting.renderer(plan.method.name, engine, lock, request, chunks, store, log), chunks

    def _tile(self, engine: Any, device: str, in_size: tuple[int, int]) -> tuple[int, int]:
        """The user's tile, or one chosen so that the engine's working memory fits on ``device``."""
        from vsinr import devices
        from vsinr.tiling import auto_tile

        plan = self.plan
        height, width = plan.out_size
        available = devices.available_memory(device)
        frame_bytes = 3 * height * width * (2 if self.dtype == np.float16 else 4)
        # a window's outputs are held at once (a handful of frames) besides the engine's tiles
        if frame_bytes * 8 > available:
            raise tasks.UsageError(
                f"an output frame of {width}x{height} takes {frame_bytes / 2**30:.1f} GiB and this device has "
                f"{available / 2**30:.1f} GiB available; use a smaller sscale"
            )
        per_pixel = int(getattr(engine, "bytes_per_out_pixel", 0))
        if not getattr(engine, "tiles", True):  # whole frames or nothing
            needed = per_pixel * height * width + 8 * frame_bytes
            if needed > available:
                raise tasks.UsageError(
                    f"method {plan.method.name!r} needs about {needed / 2**30:.2f} GiB for {width}x{height} output "
                    f"frames and cannot tile; this device has {available / 2**30:.2f} GiB available: use a device "
                    "with more memory or a smaller clip"
                )
            return plan.tile
        if plan.tile != (0, 0) or not per_pixel:
            return plan.tile
        tile = auto_tile(in_size, plan.out_size, per_pixel, min(available // 4, 2 << 30))
        if tile != (0, 0):
            self.log(V.MT_INFORMATION, f"{plan.function.name}: tiling at {tile[1]}x{tile[0]} source pixels to bound memory")
        return tile

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
        fetched: dict[int, _Source] = {}
        try:
            for s in self.scheduler.sources(n):
                fetched[s] = _Source(api, api.getFrameFilter(s, self.node, ctx), self.dtype)
                if self.mask is not None:
                    fetched[s].mask = api.getFrameFilter(self._mask_frame(s), self.mask, ctx)
            output = self.scheduler.get(n, fetched.__getitem__)
        finally:
            for source in fetched.values():
                source.free()
        self._set_props(output)
        return int(output.frame)

    def _allocate(self, prop_source: _Source) -> tuple[int, Any]:
        """A new output frame with the source's props, and a tensor over its planes."""
        height, width = self.plan.out_size
        frame = self.api.newVideoFrame(C.byref(self.format), width, height, prop_source.ptr, self.core)
        return frame, _planes(self.api, frame, self.dtype, writable=True)

    def _set_props(self, output: Output) -> None:
        if self.duration is None:
            return
        api = self.api
        props = api.getFramePropertiesRW(output.frame)
        api.mapSetInt(props, b"_DurationNum", self.duration.numerator, V.MA_REPLACE)
        api.mapSetInt(props, b"_DurationDen", self.duration.denominator, V.MA_REPLACE)
        api.mapDeleteKey(props, b"_AbsoluteTime")  # belongs to source frames only
        for key, value in ((b"_SceneChangePrev", output.scene_prev), (b"_SceneChangeNext", output.scene_next)):
            if value:
                api.mapSetInt(props, key, 1, V.MA_REPLACE)
            else:
                api.mapDeleteKey(props, key)
        api.mapSetFloat(props, b"VsinrSourceTime", float(output.source_time), V.MA_REPLACE)

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
        vi = V.VSVideoInfo()
        vi.format = self.format
        vi.width, vi.height, vi.numFrames = self.decoded.width, self.decoded.height, self.decoded.num_frames
        vi.fpsNum, vi.fpsDen = self.fps.numerator, self.fps.denominator
        with _lock:
            key = next(_next_id)
            _filters[key] = self
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
            _planes(api, frame, np.float32, writable=True).copy_(image)
            props = api.getFramePropertiesRW(frame)
            api.mapSetInt(props, b"_DurationNum", self.fps.denominator, V.MA_REPLACE)
            api.mapSetInt(props, b"_DurationDen", self.fps.numerator, V.MA_REPLACE)
            api.mapSetInt(props, b"_Matrix", 0, V.MA_REPLACE)  # RGB
            api.mapSetInt(props, b"_ColorRange", 0, V.MA_REPLACE)  # full range
        except BaseException:
            api.freeFrame(frame)
            raise
        return int(frame)

    def free(self) -> None:
        self.decoded = None


class _Source:
    """A fetched source frame; its image is a tensor over the frame's own memory.

    With a mask frame (Inpaint), the image has a fourth channel: 1 where the mask is non-zero."""

    __slots__ = ("api", "ptr", "dtype", "mask")

    def __init__(self, api: V.VSAPI, ptr: int, dtype: type):
        self.api, self.ptr, self.dtype = api, ptr, dtype
        self.mask: int | None = None

    def image(self, slot: int) -> Any:
        """The frame as a (3, H, W) tensor; pixels that are not finite read as black (NaN, -inf) or white
        (+inf), so one broken pixel stays one pixel instead of turning a network's whole output to NaN."""
        import torch

        rgb = _planes(self.api, self.ptr, self.dtype, writable=False, slot=slot)
        if not bool(torch.isfinite(rgb).all()):
            rgb = torch.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0)
        if self.mask is None:
            return rgb

        holes = torch.from_numpy(_plane(self.api, self.mask) != 0).to(rgb.dtype)
        return torch.cat([rgb, holes[None]])

    def free(self) -> None:
        self.api.freeFrame(self.ptr)
        if self.mask is not None:
            self.api.freeFrame(self.mask)

    def flag(self, key: str) -> bool:
        err = C.c_int(0)
        value = self.api.mapGetInt(self.api.getFramePropertiesRO(self.ptr), key.encode(), 0, C.byref(err))
        return err.value == 0 and value != 0


def _plane(api: V.VSAPI, frame: int) -> np.ndarray:
    """Plane 0 of a frame of any integer or float format, as a numpy array over the frame's memory."""
    fmt = api.getVideoFrameFormat(frame).contents
    dtype = {(V.ST_INTEGER, 1): np.uint8, (V.ST_INTEGER, 2): np.uint16, (V.ST_INTEGER, 4): np.uint32,
             (V.ST_FLOAT, 2): np.float16, (V.ST_FLOAT, 4): np.float32}[(fmt.sampleType, fmt.bytesPerSample)]
    width, height, stride = api.getFrameWidth(frame, 0), api.getFrameHeight(frame, 0), api.getStride(frame, 0)
    buffer = (C.c_char * (stride * height)).from_address(api.getReadPtr(frame, 0))
    return np.frombuffer(buffer, dtype).reshape(height, stride // fmt.bytesPerSample)[:, :width]


def _planes(api: V.VSAPI, frame: int, dtype: type, *, writable: bool, slot: int = 0) -> Any:
    """A (3, H, W) tensor over a frame's three planes, without copying.

    VapourSynth usually lays the planes of a fresh frame out at one fixed distance; then a single
    strided view covers them. Otherwise reads get a copy (in a reused per-thread buffer), and writes go
    through a proxy that copies into each plane.
    """
    import torch

    from vsinr.inference import scratch

    itemsize = np.dtype(dtype).itemsize
    width, height, stride = api.getFrameWidth(frame, 0), api.getFrameHeight(frame, 0), api.getStride(frame, 0)
    get = api.getWritePtr if writable else api.getReadPtr
    ptrs = [get(frame, p) for p in range(3)]
    step = ptrs[1] - ptrs[0]
    if step > 0 and ptrs[2] - ptrs[1] == step and step % itemsize == 0 and stride % itemsize == 0:
        size = 2 * step + stride * height
        buffer = (C.c_char * size).from_address(ptrs[0])
        flat = torch.frombuffer(buffer, dtype=getattr(torch, np.dtype(dtype).name))
        return flat.as_strided((3, height, width), (step // itemsize, stride // itemsize, 1))
    views = []
    for ptr in ptrs:
        buffer = (C.c_char * (stride * height)).from_address(ptr)
        views.append(np.frombuffer(buffer, dtype).reshape(height, stride // itemsize)[:, :width])
    if not writable:
        planes = [torch.from_numpy(v) for v in views]
        return torch.stack(planes, out=scratch(f"in{slot}", (3, height, width), planes[0].dtype))
    return _PlaneWriter([torch.from_numpy(v) for v in views])


class _PlaneWriter:
    """Stands in for a (3, H, W) output tensor when the planes are not evenly spaced: ``copy_`` fills each."""

    def __init__(self, planes: list[Any]):
        self.planes = planes
        self.shape = (3, *planes[0].shape)
        self.dtype, self.device = planes[0].dtype, planes[0].device

    def copy_(self, source: Any) -> None:
        for plane, data in zip(self.planes, source, strict=True):
            plane.copy_(data)


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
                if filt.mask is not None:
                    api.requestFrameFilter(filt._mask_frame(s), filt.mask, ctx)
        elif reason == V.AR_ALL_FRAMES_READY:
            return filt.frame(n, ctx)
    except Exception as exc:
        detail = str(exc) if isinstance(exc, tasks.UsageError) else f"{exc!r}\n{traceback.format_exc()}"
        api.setFilterError(f"{filt.plan.function.name}: frame {n}: {detail}".encode(), ctx)
    return None


def _decode_get_frame(n: int, reason: int, instance: int, frame_data: int, ctx: int, core: int, vsapi: int
                      ) -> int | None:
    filt = _filters.get(instance)
    if filt is None or reason != V.AR_INITIAL:  # a source filter makes its frame on the first call
        return None
    try:
        return filt.frame(n)  # type: ignore[call-arg, union-attr]
    except Exception as exc:
        detail = str(exc) if isinstance(exc, ValueError) else f"{exc!r}\n{traceback.format_exc()}"
        filt.api.setFilterError(f"Decode: frame {n}: {detail}".encode(), ctx)
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
        except KeyboardInterrupt:  # Ctrl-C: already an "interrupted" error of the call (it cannot unwind through C)
            return fallback
        except BaseException:
            traceback.print_exc()
            return fallback

    return guarded


_CREATE = V.PublicFunction(_guard(_create))
_VERSION = V.PublicFunction(_guard(_version))
_CREATE_DECODE = V.PublicFunction(_guard(_create_decode))
_GET_FRAME = V.FilterGetFrame(_guard(_get_frame))
_DECODE_GET_FRAME = V.FilterGetFrame(_guard(_decode_get_frame))
_FREE = V.FilterFree(_guard(_free))
