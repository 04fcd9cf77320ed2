"""The Python side of the native entry point: registers the ``vsinr`` functions and creates their filters.

``filters/vsinr_entry.c`` calls ``register`` while VapourSynth loads the plugin. Each call is validated
(``vsinr.serving.tasks``) and laid out (``vsinr.runtime.pipeline``) into a filter (``vsinr.bridge.filters``).
A refused call becomes the call's VapourSynth error, Ctrl-C during a creation included; nothing raised
here may reach the host. Importing this module
stays cheap: torch is imported only when a filter is created.
"""

from __future__ import annotations

import ctypes as C
import os
import signal
import threading
import traceback
from collections.abc import Callable
from typing import Any

from vsinr import __version__
from vsinr.bridge import marshal as M
from vsinr.bridge import vsapi as V
from vsinr.bridge.filters import DecodeFilter, Filter, free, guard
from vsinr.host import plugins
from vsinr.runtime import pipeline
from vsinr.serving import tasks

_lock = threading.Lock()
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
        given = M.read_args(api, in_map, tasks.arg_types(fn))
        for arg in fn.args:
            if arg.type == "vnode":  # a second clip (Inpaint's mask): validated by its ClipInfo
                nodes.append(api.mapGetNode(in_map, arg.name.encode(), 0, C.byref(err)))
                given[arg.name] = M.clip_info(api, V.VSVideoInfo.from_buffer_copy(api.getVideoInfo(nodes[-1]).contents))
        plan = tasks.plan(fn, M.clip_info(api, vi), given)
        owned, nodes = nodes, []
        Filter(api, core, owned[0], vi, plan, owned[1] if len(owned) > 1 else None).create(out_map)
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
        DecodeFilter(api, core, pipeline.open_decoded(plan)).create(out_map)
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


_CREATE = V.PublicFunction(_creation(_create, lambda index: _functions[index - 1].name))
_VERSION = V.PublicFunction(guard(_version))
_CREATE_DECODE = V.PublicFunction(_creation(_create_decode, lambda index: "Decode"))
_CREATING = _creation(_create, str).__code__  # the code of every creation callback, for _on_interrupt
_GUARDED = guard(free).__code__  # and of every other callback
