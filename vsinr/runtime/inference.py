"""Running engines: one shared engine per method and request in a process, on the right device and
precision. Imports torch; used only once a filter is created.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

from vsinr.host.methods import EngineRequest, MethodSpec, WindowedEngine
from vsinr.ops.buffers import scratch
from vsinr.serving.scheduling import Renderer

_lock = threading.Lock()
_engines: OrderedDict[tuple[str, EngineRequest], tuple[Any, threading.Lock]] = OrderedDict()
#: Engines kept for reuse. Filters hold their own engine, so one evicted here lives on until its last
#: filter is freed; the cap only bounds what no filter uses any more.
CAPACITY = 4


def engine_for(method: MethodSpec, request: EngineRequest) -> tuple[Any, threading.Lock]:
    """The process-wide engine for this request (built on first use) and the lock that guards it.

    Requests that differ only in fields the method's loader does not read (``MethodSpec.reads``) share
    one engine: ``STVSR(c, 2, 4)``, ``STVSR(c, 3, 4)`` and ``Interpolate(c, 2)`` load a network once."""
    request = method.engine_request(request)
    key = (method.name, request)
    with _lock:  # held while loading, so two filters never build the same network twice
        if key not in _engines:
            _engines[key] = (method.load(request), threading.Lock())
        _engines.move_to_end(key)
        found = _engines[key]
        while len(_engines) > CAPACITY:
            _engines.popitem(last=False)
        return found


def renderer(engine: WindowedEngine, lock: threading.Lock, request: EngineRequest) -> Renderer:
    """A window renderer from CPU frames into CPU outputs, computed on the request's device and precision.

    On the CPU at the clip's own precision the engine reads the source frames and writes the output
    frames in place; otherwise frames go through device buffers. With Inpaint's ``masks`` (an engine
    that serves Inpaint takes them as ``masks=``; its times are source frames), every output pixel
    outside the mask is then set back to the source's, bit for bit.
    """
    dtype = torch.float16 if request.half else torch.float32
    device = torch.device(request.device)

    def render(frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor], *,
               first: int = 0, cuts: frozenset[int] = frozenset(), masks: Sequence[torch.Tensor] | None = None) -> None:
        x = [f.to(device=device, dtype=dtype, non_blocking=True) for f in frames]
        extra = {} if masks is None else {"masks": [m.to(device=device, non_blocking=True) for m in masks]}
        local = frozenset(s - first for s in cuts)
        direct = all(isinstance(o, torch.Tensor) and o.device == device and o.dtype == dtype for o in out)
        targets = out if direct else [scratch(f"out{i}", tuple(o.shape), dtype, device) for i, o in enumerate(out)]
        with lock, torch.inference_mode():
            engine.render(x, times, targets, cuts=local, **extra)
            for target, time in zip(targets, times, strict=True) if masks is not None else ():
                n = round(time)
                torch.where(extra["masks"][n] > 0, target, x[n], out=target)
        if not direct:
            for o, target in zip(out, targets, strict=True):
                o.copy_(target)

    return render
