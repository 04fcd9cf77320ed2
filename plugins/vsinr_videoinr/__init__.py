"""videoinr: continuous space-time super-resolution (VideoINR, Chen et al., CVPR 2022).

A pair of low-resolution frames is encoded once; any pixel at any time between them and at any spatial
scale is decoded by SIRENs through learned flows. The default weights are ours (``weights/``, see the
model card there); ``weights=`` also takes the authors' ``latest_G.pth``.
"""

from __future__ import annotations

from vsinr.hookspecs import hookimpl
from vsinr.methods import PRECISION, EngineRequest, MethodSpec, TaskSupport, WindowedEngine, precision_for

__version__ = "0.1.0"


def _load(request: EngineRequest) -> WindowedEngine:
    from vsinr_videoinr.engine import build_engine

    return build_engine(request.weights, request.device, precision_for(request, "videoinr"))


SPEC = MethodSpec(
    name="videoinr",
    version=__version__,
    summary="VideoINR: any spatial scale, any frame rate, from pairs of frames (learned)",
    tasks={
        "stvsr": TaskSupport(priority=100),
        "interpolate": TaskSupport(priority=100),
    },
    params=(PRECISION,),
    load=_load,
)


@hookimpl
def vsinr_methods() -> list[MethodSpec]:
    return [SPEC]
