"""zsm: Zooming SlowMo (Xiang et al., CVPR 2020; TPAMI 2021), one-stage ×4 ×2 space-time SR and restoration.

- ``STVSR(clip, 4, 2, method="zsm", degradation="clean" | "noise" | "jpeg")``: four times the size,
  twice the frame rate, from clean, noisy (Gaussian plus salt-and-pepper) or JPEG-damaged input.
- ``Denoise(clip, method="zsm", degradation="noise" | "jpeg")``: restoration at the source size and
  rate (every source frame is an input and an output).

The default weights are ZSM's flow-guided configurations (``flowzsm.py``, header ``kind: flow``). For
``Denoise`` each frame is restored from the 2·radius + 1 frames centred on it (5 for the shipped
weights), moved onto it along DIS optical flow, averaged with weights that fall where they disagree with
it (occlusions, flow failures), and corrected by a small network. For ``STVSR`` each source frame c
and the frame halfway to c + 1 are made the same way at ×4: the halfway frame's centre is c and c + 1
moved to the middle along their flow and averaged, its neighbours c - 1 … c + 2 are moved onto it, and
the network adds detail at 4 times the size to the bicubic upscale of that average. Frames across a
scene change (``_SceneChangeNext``/``_SceneChangePrev``, e.g. from ``mv.SCDetection``) are never used:
the shot's end frame repeats in their place, and nothing is made halfway across the cut (the left frame
is used). An unmarked cut inside the window costs about 1 dB on the frames next to it. For impulse
noise, pixels black or white in every channel are first replaced by their 3×3 median. Windows are
clamped at the ends of the clip, where the end frame repeats.

Zooming SlowMo's own windowing (weights of that architecture, such as the authors' checkpoint;
``window`` = W source frames, 4 by default, overlapping by one frame, step S = W-1): window j reads S·j
… S·j+W-1 and serves the output frames whose source time lies in [S·j, S·(j+1)); the last window serves
every later output too, and is moved back so that it ends on the last source frame (a clip shorter than
W repeats its last frame). So where windows overlap, the shared frame is taken from the window that
starts on it; each output frame comes from exactly one window, whatever order frames are asked in; every
source frame is covered (the released script drops the frames that do not fill a window); and N source
frames give 2·N output frames at twice the rate, the last one holding the last frame. Sizes that are not
multiples of 4 are padded at the bottom and right (with zeros for official checkpoints, as the authors'
test script does; edges repeated for ours, header ``padding``) and cropped back. A scene change (``_SceneChangeNext``/``_SceneChangePrev``) is never blended across: the frame
after the cut's left frame repeats it. Restoring ×4 ×2 models for noise start from a 3×3 median of the
input (``prefilter``), so that impulses are gone before the network's learned correction.

The default weights are ours (``weights/``, see the model card there); ``weights=`` also takes the
authors' ``xiang2020zooming.pth`` (clean ×4 ×2).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from vsinr.host.hookspecs import hookimpl
from vsinr.host.methods import (
    BACKEND,
    PRECISION,
    Call,
    EngineRequest,
    MethodSpec,
    Param,
    TaskSupport,
    WindowedEngine,
    precision_for,
)

__version__ = "0.2.0"

DEGRADATIONS = ("clean", "noise", "jpeg")


def degradation_for(request: EngineRequest) -> str:
    """The degradation a request restores (``auto``: clean for STVSR, noise for Denoise)."""
    chosen = request.param("degradation")
    if chosen == "auto":
        return "noise" if request.read("task") == "denoise" else "clean"
    return chosen


def _check(params: Mapping[str, Any], call: Call) -> str | None:
    if call.task == "denoise" and params["degradation"] == "clean":
        return 'degradation="clean" leaves nothing to restore; Denoise takes "noise" or "jpeg"'
    window = int(params["window"])
    if window and not 2 <= window <= 16:
        return f"window={window} is out of range: give 2 to 16 source frames, or 0 for the weights' own"
    return None


def _load(request: EngineRequest) -> WindowedEngine:
    from vsinr_zsm.engine import build_engine

    precision = precision_for(request, "zsm")
    window = int(request.param("window"))
    return build_engine(request.weights, request.read("task"), degradation_for(request), request.device, precision, window,
                        request.param("backend"))


def _networks(weights: str, options: Mapping[str, str]) -> Any:
    from vsinr_zsm.engine import load_model
    from vsinr_zsm.flowzsm import FlowZSM

    task = options.get("task", "stvsr")
    if task not in ("stvsr", "denoise"):
        raise ValueError(f"zsm's networks are for task stvsr or denoise, not {task!r}")
    degradation = options.get("degradation", "auto")
    if degradation == "auto":
        degradation = "noise" if task == "denoise" else "clean"
    model = load_model(weights, task, degradation)
    if not isinstance(model, FlowZSM):
        raise ValueError("the authors' Zooming SlowMo does not export (its deformable convolutions); give "
                         "flow-guided weights")
    return [model.part()]


def _training() -> Any:
    from vsinr_zsm.training import RECIPES

    return RECIPES


def _convert(path: Path) -> Any:
    from vsinr_zsm.engine import load_model

    return load_model(path, "stvsr", "clean")  # the official checkpoint: ZSM ×4 ×2 for clean input


SPEC = MethodSpec(
    name="zsm",
    version=__version__,
    summary="Zooming SlowMo: ×4 size and ×2 rate in one network, from clean, noisy or JPEG input (learned)",
    tasks={
        # above videoinr (300): at ×4 ×2, the only scales it serves, it is measured better and faster
        "stvsr": TaskSupport(priority=400, sscales=(Fraction(4),), tscales=(Fraction(2),)),
        "denoise": TaskSupport(priority=100),
    },
    params=(
        Param(name="degradation", type="data", default="auto",
              doc="what the input suffers from: clean, noise (Gaussian + salt-and-pepper) or jpeg; auto: clean "
                  "for STVSR, noise for Denoise", choices=("auto", *DEGRADATIONS)),
        Param(name="window", type="int", default=0,
              doc="source frames per window (2-16; 0: the weights' own, 4 for Zooming SlowMo, whose windows "
                  "overlap by one; flow-guided weights make each output from the frames around it)"),
        PRECISION,
        BACKEND,
    ),
    reads=frozenset({"task"}),  # Denoise and STVSR use different weights
    check=_check,
    load=_load,
    convert=_convert,
    training=_training,
    networks=_networks,
)


@hookimpl
def vsinr_methods() -> list[MethodSpec]:
    return [SPEC]
