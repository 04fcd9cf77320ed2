"""VapourSynth values as Python ones: argument maps, clip formats, frames as tensors, and a resize node.

Everything here speaks the C API through ``vsinr.bridge.vsapi``; nothing decides what to compute.
"""

from __future__ import annotations

import ctypes as C
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from vsinr.bridge import vsapi as V
from vsinr.serving import tasks

_FORMAT_NAMES = {(V.CF_RGB, V.ST_FLOAT, 32): "RGBS", (V.CF_RGB, V.ST_FLOAT, 16): "RGBH"}


def read_data(api: V.VSAPI, in_map: int, name: str) -> str | None:
    """A data (string) argument, or None when it was not given."""
    err = C.c_int(0)
    key = name.encode()
    if api.mapNumElements(in_map, key) < 1:
        return None
    size = api.mapGetDataSize(in_map, key, 0, C.byref(err))
    return C.string_at(api.mapGetData(in_map, key, 0, C.byref(err)), size).decode()


def read_args(api: V.VSAPI, in_map: int, types: Mapping[str, str]) -> dict[str, Any]:
    """The arguments of these VapourSynth ``types`` (int, float, data; clips are read by the caller) that
    the caller gave; absent ones are left out, so defaults apply later."""
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
        elif kind == "float":
            given[name] = api.mapGetFloat(in_map, key, 0, C.byref(err))
        elif (text := read_data(api, in_map, name)) is not None:
            given[name] = text
    return given


def clip_info(api: V.VSAPI, vi: V.VSVideoInfo) -> tasks.ClipInfo:
    """What ``tasks.plan`` needs to know of a clip."""
    fmt = vi.format
    name = _FORMAT_NAMES.get((fmt.colorFamily, fmt.sampleType, fmt.bitsPerSample), "")
    if not name and fmt.colorFamily:
        buf = C.create_string_buffer(32)
        api.getVideoFormatName(C.byref(fmt), buf)
        name = buf.value.decode()
    fps = Fraction(vi.fpsNum, vi.fpsDen) if vi.fpsNum > 0 and vi.fpsDen > 0 else Fraction(0)
    return tasks.ClipInfo(name, vi.width, vi.height, vi.numFrames, fps)


def video_info(fmt: V.VSVideoFormat, size: tuple[int, int], num_frames: int, fps: Fraction) -> V.VSVideoInfo:
    """A clip's video info: ``size`` is (height, width); an fps of 0 is a variable rate."""
    vi = V.VSVideoInfo()
    vi.format = fmt
    vi.height, vi.width = size
    vi.numFrames = num_frames
    vi.fpsNum, vi.fpsDen = (fps.numerator, fps.denominator) if fps else (0, 0)
    return vi


def set_props(api: V.VSAPI, frame: int, props: dict[str, int | float | None]) -> None:
    """Set integer and float frame properties of a writable frame; None deletes the key."""
    target = api.getFramePropertiesRW(frame)
    for name, value in props.items():
        key = name.encode()
        if value is None:
            api.mapDeleteKey(target, key)
        elif isinstance(value, float):
            api.mapSetFloat(target, key, value, V.MA_REPLACE)
        else:
            api.mapSetInt(target, key, value, V.MA_REPLACE)


def native_resize(api: V.VSAPI, core: int, node: int, size: tuple[int, int], function: str, extra: dict[str, Any]) -> int:
    """A new node: ``node`` resized to ``size`` (height, width) by VapourSynth's resize plugin."""
    height, width = size
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
        plugin = api.getPluginByNamespace(b"resize", core)
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


class Source:
    """A fetched source frame (``vsinr.serving.scheduling.SourceFrame``) and, for Inpaint, its mask frame; its
    image is a tensor over the frame's own memory."""

    __slots__ = ("api", "ptr", "dtype", "mask_ptr", "dilate")

    def __init__(self, api: V.VSAPI, ptr: int, dtype: type, mask_ptr: int | None = None, dilate: int = 0):
        self.api, self.ptr, self.dtype, self.mask_ptr, self.dilate = api, ptr, dtype, mask_ptr, dilate

    def image(self, slot: int) -> Any:
        """The frame as a (3, H, W) tensor; pixels that are not finite read as black (NaN, -inf) or white
        (+inf), so one broken pixel stays one pixel instead of turning a network's whole output to NaN."""
        import torch

        rgb = planes(self.api, self.ptr, self.dtype, writable=False, slot=slot)
        if not bool(torch.isfinite(rgb).all()):
            rgb = torch.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0)
        return rgb

    def mask(self) -> Any:
        """The mask as a (1, H, W) tensor, 1 where the mask frame is non-zero (a float mask: above 0, so
        that a mask converted from limited range, whose black is slightly negative, stays empty there),
        grown by ``dilate`` pixels (a square neighbourhood); None without a mask."""
        import torch

        from vsinr.ops import holes as H

        if self.mask_ptr is None:
            return None
        values = plane(self.api, self.mask_ptr)
        marked = values > 0 if values.dtype.kind == "f" else values != 0
        holes = H.dilate(torch.from_numpy(marked)[None, None], self.dilate)[0]
        return holes.to(getattr(torch, np.dtype(self.dtype).name))

    def free(self) -> None:
        self.api.freeFrame(self.ptr)
        if self.mask_ptr is not None:
            self.api.freeFrame(self.mask_ptr)

    def flag(self, key: str) -> bool:
        err = C.c_int(0)
        value = self.api.mapGetInt(self.api.getFramePropertiesRO(self.ptr), key.encode(), 0, C.byref(err))
        return err.value == 0 and value != 0


def plane(api: V.VSAPI, frame: int) -> np.ndarray:
    """Plane 0 of a frame of any integer or float format, as a numpy array over the frame's memory."""
    fmt = api.getVideoFrameFormat(frame).contents
    dtype = {(V.ST_INTEGER, 1): np.uint8, (V.ST_INTEGER, 2): np.uint16, (V.ST_INTEGER, 4): np.uint32,
             (V.ST_FLOAT, 2): np.float16, (V.ST_FLOAT, 4): np.float32}[(fmt.sampleType, fmt.bytesPerSample)]
    width, height, stride = api.getFrameWidth(frame, 0), api.getFrameHeight(frame, 0), api.getStride(frame, 0)
    buffer = (C.c_char * (stride * height)).from_address(api.getReadPtr(frame, 0))
    return np.frombuffer(buffer, dtype).reshape(height, stride // fmt.bytesPerSample)[:, :width]


def planes(api: V.VSAPI, frame: int, dtype: type, *, writable: bool, slot: int = 0) -> Any:
    """A (3, H, W) tensor over a frame's three planes, without copying.

    VapourSynth usually lays the planes of a fresh frame out at one fixed distance; then a single
    strided view covers them. Otherwise reads get a copy (in a reused per-thread buffer), and writes go
    through a proxy that copies into each plane.
    """
    import torch

    from vsinr.ops.buffers import scratch

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
    views: list[np.ndarray] = []
    for ptr in ptrs:
        buffer = (C.c_char * (stride * height)).from_address(ptr)
        views.append(np.frombuffer(buffer, dtype).reshape(height, stride // itemsize)[:, :width])
    if not writable:
        planes = [torch.from_numpy(v) for v in views]
        return torch.stack(planes, out=scratch(f"in{slot}", (3, height, width), planes[0].dtype))
    return PlaneWriter([torch.from_numpy(v) for v in views])


class PlaneWriter:
    """Stands in for a (3, H, W) output tensor when the planes are not evenly spaced: ``copy_`` fills each."""

    def __init__(self, planes: list[Any]):
        self.planes = planes
        self.shape = (3, *planes[0].shape)
        self.dtype, self.device = planes[0].dtype, planes[0].device

    def copy_(self, source: Any) -> None:
        for plane, data in zip(self.planes, source, strict=True):
            plane.copy_(data)


