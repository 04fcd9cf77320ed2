"""videoinr: continuous space-time super-resolution (VideoINR, Chen et al., CVPR 2022).

The released architecture (``arch.py``) encodes a pair of low-resolution frames once and decodes any
pixel at any time between them and at any spatial scale by SIRENs through learned flows; ``weights=``
takes the authors' ``latest_G.pth`` for it. The default weights are ours, for the flow-guided
configuration (``flowinr.py``): DIS optical flow for the motion, a small network for the spatial detail
(``weights/MODEL_CARD.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vsinr.host.hookspecs import hookimpl
from vsinr.host.methods import BACKEND, PRECISION, EngineRequest, MethodSpec, TaskSupport, WindowedEngine, precision_for

__version__ = "0.2.0"


def _load(request: EngineRequest) -> WindowedEngine:
    from vsinr_videoinr.engine import build_engine

    return build_engine(request.weights, request.device, precision_for(request, "videoinr"), request.param("backend"))


def _training() -> Any:
    from vsinr_videoinr.training import RECIPES

    return RECIPES


def _networks(weights: str, options: Any) -> Any:
    from vsinr_videoinr.engine import load_model
    from vsinr_videoinr.flowinr import FlowINR

    model = load_model(weights)
    if not isinstance(model, FlowINR):
        raise ValueError("only the flow-guided spatial network (the default weights) exports")
    return list(model.parts())


def _convert(path: Path) -> Any:
    from vsinr_videoinr.engine import load_model

    return load_model(path)


SPEC = MethodSpec(
    name="videoinr",
    version=__version__,
    summary="VideoINR: any spatial scale, any frame rate, from pairs of frames (learned; flow-guided by default)",
    tasks={
        # above classic for STVSR, where its learned detail measures better (README, "Default methods");
        # below it for Interpolate, where the default weights add nothing at the source size
        "stvsr": TaskSupport(priority=300),
        "interpolate": TaskSupport(priority=100),
    },
    params=(PRECISION, BACKEND),
    load=_load,
    convert=_convert,
    training=_training,
    networks=_networks,
)


@hookimpl
def vsinr_methods() -> list[MethodSpec]:
    return [SPEC]
