"""flowfill: video in-painting by flow-guided propagation, corrected by a small network.

``core.vsinr.Inpaint(clip, mask)`` with a GRAY mask, non-zero where pixels are to be filled. Each hole
pixel is followed along DIS optical flow, completed inside the holes, to the nearest frames before and
after it that show it (up to ``radius`` frames, never across a scene change), and takes what they show;
what no frame shows is Laplace-filled. ``refine=1`` with ``weights=`` a file from ``vsinr train flowfill``
adds a network that corrects the result from how it was made (no trained weights are shipped: the runs
so far add less than 0.05 dB, ``docs/flowfill.md``). Pixels outside the mask are the source's, bit for
bit.
"""

from __future__ import annotations

from collections.abc import Mapping
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

__version__ = "0.1.0"


def _load(request: EngineRequest) -> WindowedEngine:
    from vsinr_flowfill.engine import FlowFillEngine, load_model

    model = load_model(request.weights) if request.param("refine") else None
    return FlowFillEngine(model, request.device, int(request.param("radius")), precision_for(request, "flowfill"),
                          request.param("backend"))


def _check(params: Mapping[str, Any], call: Call) -> str | None:
    if not 1 <= int(params["radius"]) <= 32:
        return f"radius={params['radius']} must be from 1 to 32 frames"
    return None


def _networks(weights: str, options: Mapping[str, str]) -> Any:
    from vsinr_flowfill.engine import load_model, part

    return [part(load_model(weights))]


def _training() -> Any:
    from vsinr_flowfill.training import RECIPES

    return RECIPES


SPEC = MethodSpec(
    name="flowfill",
    version=__version__,
    summary="in-painting: what other frames show, moved along completed DIS flow; a learned correction",
    tasks={"inpaint": TaskSupport(priority=20)},  # above snerv (10): docs/flowfill.md
    params=(
        Param(name="radius", type="int", default=6, doc="frames searched on each side for what a hole hides"),
        Param(name="refine", type="int", default=0, choices=(0, 1),
              doc="0: propagation + Laplace fill; 1: a network (weights=) corrects it"),
        PRECISION,
        BACKEND,
    ),
    check=_check,
    load=_load,
    training=_training,
    networks=_networks,
)


@hookimpl
def vsinr_methods() -> list[MethodSpec]:
    return [SPEC]
