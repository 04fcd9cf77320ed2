"""classic: the best classical pipeline, and the bar every learned vsinr method is measured against.

Spatial scaling by VapourSynth's own resizer (zimg; Spline36 by default, the sharp kernel users pick by
hand), then frames between source frames by motion compensation: DIS optical flow (``vsinr.ops.flow``)
between each pair, both frames fetched along it and mixed by their distance in time. No model, no
weights. ``motion="blend"`` gives the plain linear blend (and ``kernel="bicubic"`` zimg's default
Catmull-Rom), the fastest and the simplest.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from vsinr.host.hookspecs import hookimpl
from vsinr.host.methods import EngineRequest, MethodSpec, NativeResize, Param, TaskSupport, WindowedEngine

__version__ = "0.2.0"

#: kernel name → (resize function, its extra arguments)
KERNELS: dict[str, NativeResize] = {
    "spline36": ("Spline36", {}),
    "bicubic": ("Bicubic", {}),
    "mitchell": ("Bicubic", {"filter_param_a": 1 / 3, "filter_param_b": 1 / 3}),
    "lanczos": ("Lanczos", {}),
    "bilinear": ("Bilinear", {}),
}


def _resize(params: Any) -> NativeResize:
    return KERNELS[params["kernel"]]


def _load(request: EngineRequest) -> WindowedEngine:
    from vsinr_classic.engine import BlendEngine, FlowEngine

    if request.param("motion") == "blend":
        return BlendEngine()
    return FlowEngine(flow_scale=float(1 / request.read("sscale")))


SPEC = MethodSpec(
    name="classic",
    version=__version__,
    summary="resize (zimg Spline36) + motion-compensated frames along DIS optical flow; no learned part",
    tasks={
        "stvsr": TaskSupport(priority=200),
        "interpolate": TaskSupport(priority=200, sscales=(Fraction(1),)),
    },
    params=(
        Param(name="kernel", type="data", default="spline36", doc="spatial resize kernel", choices=tuple(KERNELS)),
        Param(name="motion", type="data", default="flow",
              doc="flow (motion-compensated along DIS optical flow) or blend (linear blend)", choices=("flow", "blend")),
    ),
    reads=frozenset({"sscale"}),  # flow is estimated at the source size
    takes_weights=False,
    load=_load,
    native_resize=_resize,
)


@hookimpl
def vsinr_methods() -> list[MethodSpec]:
    return [SPEC]
