"""Running engines: one shared engine per (method, request) in a process, on the right device and
precision, tiled when asked. Imports torch; used only once a filter is created.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch

from vsinr.methods import EngineRequest, MethodSpec, WindowedEngine
from vsinr.scheduling import Renderer
from vsinr.tiling import TileGrid, render_tiled

_lock = threading.Lock()
_engines: dict[tuple[str, EngineRequest], tuple[WindowedEngine, threading.Lock]] = {}


def engine_for(method: MethodSpec, request: EngineRequest) -> tuple[WindowedEngine, threading.Lock]:
    """The process-wide engine for this request (built on first use) and the lock that guards it."""
    key = (method.name, request)
    with _lock:
        if key not in _engines:
            _engines[key] = (method.load(request), threading.Lock())
        return _engines[key]


def renderer(engine: WindowedEngine, lock: threading.Lock, request: EngineRequest, grid: TileGrid) -> Renderer:
    """A window renderer: CPU frames in, CPU frames out, computed on the request's device and precision."""
    dtype = torch.float16 if request.half else torch.float32
    device = torch.device(request.device)

    def render(frames: torch.Tensor, times: Sequence[float]) -> list[Any]:
        out_dtype = frames.dtype
        x = frames.to(device=device, dtype=dtype, non_blocking=True)
        with lock, torch.inference_mode():
            images = render_tiled(engine.render, x, times, grid)
            return [image.to(device="cpu", dtype=out_dtype) for image in images]

    return render
