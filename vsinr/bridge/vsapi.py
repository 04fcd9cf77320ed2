"""ctypes bindings of the parts of VapourSynth4.h (API 4) that the bridge uses.

Structs of function pointers must list every member up to the last one used, in the header's order;
members the bridge never calls are declared as plain pointers to keep the layout.
"""

from __future__ import annotations

import ctypes as C
from typing import Any

VS_CC = C.CFUNCTYPE  # cdecl on every platform vsinr builds for

API_MAJOR, API_MINOR = 4, 0
API_VERSION = (API_MAJOR << 16) | API_MINOR

# VSColorFamily, VSSampleType
CF_GRAY, CF_RGB, CF_YUV = 1, 2, 3
ST_INTEGER, ST_FLOAT = 0, 1
# VSFilterMode, VSActivationReason, VSRequestPattern, VSMessageType, VSPropertyType, VSMapAppendMode
FM_PARALLEL, FM_PARALLEL_REQUESTS, FM_UNORDERED = 0, 1, 2
AR_INITIAL, AR_ALL_FRAMES_READY, AR_ERROR = 0, 1, -1
RP_GENERAL, RP_STRICT_SPATIAL = 0, 2
MT_DEBUG, MT_INFORMATION, MT_WARNING, MT_CRITICAL = 0, 1, 2, 3
PT_UNSET, PT_INT, PT_FLOAT, PT_DATA = 0, 1, 2, 3
MA_REPLACE, MA_APPEND = 0, 1


class VSVideoFormat(C.Structure):
    _fields_ = [
        ("colorFamily", C.c_int),
        ("sampleType", C.c_int),
        ("bitsPerSample", C.c_int),
        ("bytesPerSample", C.c_int),
        ("subSamplingW", C.c_int),
        ("subSamplingH", C.c_int),
        ("numPlanes", C.c_int),
    ]


class VSVideoInfo(C.Structure):
    _fields_ = [
        ("format", VSVideoFormat),
        ("fpsNum", C.c_int64),
        ("fpsDen", C.c_int64),
        ("width", C.c_int),
        ("height", C.c_int),
        ("numFrames", C.c_int),
    ]


class VSFilterDependency(C.Structure):
    _fields_ = [("source", C.c_void_p), ("requestPattern", C.c_int)]


P = C.c_void_p
INT_P = C.POINTER(C.c_int)

# Callback types the core calls into.
PublicFunction = VS_CC(None, P, P, P, P, P)  # (in, out, userData, core, vsapi)
FilterGetFrame = VS_CC(P, C.c_int, C.c_int, P, P, P, P, P)  # (n, reason, instance, frameData, ctx, core, vsapi)
FilterFree = VS_CC(None, P, P, P)  # (instance, core, vsapi)


class VSPLUGINAPI(C.Structure):
    _fields_ = [
        ("getAPIVersion", VS_CC(C.c_int)),
        ("configPlugin", VS_CC(C.c_int, C.c_char_p, C.c_char_p, C.c_char_p, C.c_int, C.c_int, C.c_int, P)),
        ("registerFunction", VS_CC(C.c_int, C.c_char_p, C.c_char_p, C.c_char_p, PublicFunction, P, P)),
    ]


def _fn(restype: Any, *argtypes: Any) -> Any:
    return VS_CC(restype, *argtypes)


_VSAPI_MEMBERS: list[tuple[str, Any]] = [
    ("createVideoFilter", _fn(None, P, C.c_char_p, C.POINTER(VSVideoInfo), FilterGetFrame, FilterFree, C.c_int,
                              C.POINTER(VSFilterDependency), C.c_int, P, P)),
    ("createVideoFilter2", P),
    ("createAudioFilter", P),
    ("createAudioFilter2", P),
    ("setLinearFilter", P),
    ("setCacheMode", P),
    ("setCacheOptions", P),
    ("freeNode", _fn(None, P)),
    ("addNodeRef", _fn(P, P)),
    ("getNodeType", _fn(C.c_int, P)),
    ("getVideoInfo", _fn(C.POINTER(VSVideoInfo), P)),
    ("getAudioInfo", P),
    ("newVideoFrame", _fn(P, C.POINTER(VSVideoFormat), C.c_int, C.c_int, P, P)),
    ("newVideoFrame2", P),
    ("newAudioFrame", P),
    ("newAudioFrame2", P),
    ("freeFrame", _fn(None, P)),
    ("addFrameRef", _fn(P, P)),
    ("copyFrame", _fn(P, P, P)),
    ("getFramePropertiesRO", _fn(P, P)),
    ("getFramePropertiesRW", _fn(P, P)),
    ("getStride", _fn(C.c_ssize_t, P, C.c_int)),
    ("getReadPtr", _fn(P, P, C.c_int)),
    ("getWritePtr", _fn(P, P, C.c_int)),
    ("getVideoFrameFormat", _fn(C.POINTER(VSVideoFormat), P)),
    ("getAudioFrameFormat", P),
    ("getFrameType", P),
    ("getFrameWidth", _fn(C.c_int, P, C.c_int)),
    ("getFrameHeight", _fn(C.c_int, P, C.c_int)),
    ("getFrameLength", P),
    ("getVideoFormatName", _fn(C.c_int, C.POINTER(VSVideoFormat), C.c_char_p)),
    ("getAudioFormatName", P),
    ("queryVideoFormat", _fn(C.c_int, C.POINTER(VSVideoFormat), C.c_int, C.c_int, C.c_int, C.c_int, C.c_int, P)),
    ("queryAudioFormat", P),
    ("queryVideoFormatID", P),
    ("getVideoFormatByID", P),
    ("getFrame", P),
    ("getFrameAsync", P),
    ("getFrameFilter", _fn(P, C.c_int, P, P)),
    ("requestFrameFilter", _fn(None, C.c_int, P, P)),
    ("releaseFrameEarly", P),
    ("cacheFrame", P),
    ("setFilterError", _fn(None, C.c_char_p, P)),
    ("createFunction", P),
    ("freeFunction", P),
    ("addFunctionRef", P),
    ("callFunction", P),
    ("createMap", _fn(P)),
    ("freeMap", _fn(None, P)),
    ("clearMap", P),
    ("copyMap", P),
    ("mapSetError", _fn(None, P, C.c_char_p)),
    ("mapGetError", _fn(C.c_char_p, P)),
    ("mapNumKeys", _fn(C.c_int, P)),
    ("mapGetKey", _fn(C.c_char_p, P, C.c_int)),
    ("mapDeleteKey", _fn(C.c_int, P, C.c_char_p)),
    ("mapNumElements", _fn(C.c_int, P, C.c_char_p)),
    ("mapGetType", _fn(C.c_int, P, C.c_char_p)),
    ("mapSetEmpty", P),
    ("mapGetInt", _fn(C.c_int64, P, C.c_char_p, C.c_int, INT_P)),
    ("mapGetIntSaturated", P),
    ("mapGetIntArray", P),
    ("mapSetInt", _fn(C.c_int, P, C.c_char_p, C.c_int64, C.c_int)),
    ("mapSetIntArray", P),
    ("mapGetFloat", _fn(C.c_double, P, C.c_char_p, C.c_int, INT_P)),
    ("mapGetFloatSaturated", P),
    ("mapGetFloatArray", P),
    ("mapSetFloat", _fn(C.c_int, P, C.c_char_p, C.c_double, C.c_int)),
    ("mapSetFloatArray", P),
    ("mapGetData", _fn(P, P, C.c_char_p, C.c_int, INT_P)),
    ("mapGetDataSize", _fn(C.c_int, P, C.c_char_p, C.c_int, INT_P)),
    ("mapGetDataTypeHint", P),
    ("mapSetData", _fn(C.c_int, P, C.c_char_p, C.c_char_p, C.c_int, C.c_int, C.c_int)),
    ("mapGetNode", _fn(P, P, C.c_char_p, C.c_int, INT_P)),
    ("mapSetNode", _fn(C.c_int, P, C.c_char_p, P, C.c_int)),
    ("mapConsumeNode", _fn(C.c_int, P, C.c_char_p, P, C.c_int)),
    ("mapGetFrame", P),
    ("mapSetFrame", P),
    ("mapConsumeFrame", P),
    ("mapGetFunction", P),
    ("mapSetFunction", P),
    ("mapConsumeFunction", P),
    ("registerFunction", P),
    ("getPluginByID", P),
    ("getPluginByNamespace", _fn(P, C.c_char_p, P)),
    ("getNextPlugin", P),
    ("getPluginName", P),
    ("getPluginID", P),
    ("getPluginNamespace", P),
    ("getNextPluginFunction", P),
    ("getPluginFunctionByName", P),
    ("getPluginFunctionName", P),
    ("getPluginFunctionArguments", P),
    ("getPluginFunctionReturnType", P),
    ("getPluginPath", _fn(C.c_char_p, P)),
    ("getPluginVersion", P),
    ("invoke", _fn(P, P, C.c_char_p, P)),
    ("createCore", P),
    ("freeCore", P),
    ("setMaxCacheSize", P),
    ("setThreadCount", P),
    ("getCoreInfo", P),
    ("getAPIVersion", P),
    ("logMessage", _fn(None, C.c_int, C.c_char_p, P)),
]


class VSAPI(C.Structure):
    _fields_ = _VSAPI_MEMBERS


def plugin_api(address: int) -> VSPLUGINAPI:
    """The VSPLUGINAPI table at ``address`` (as passed to the plugin's init function)."""
    return C.cast(address, C.POINTER(VSPLUGINAPI)).contents


def api(address: int) -> VSAPI:
    """The VSAPI table at ``address`` (as passed to every callback)."""
    return C.cast(address, C.POINTER(VSAPI)).contents
