"""classic: the baseline every vsinr method is measured against.

Spatial scaling by VapourSynth's own resizer (zimg; Bicubic with b=0, c=0.5 by default, i.e. Catmull-Rom,
the a = -0.5 cubic MATLAB uses too, and the kernel users
get from ``core.resize.Bicubic``), then linear blending between the two source frames around each
output time. No model, no weights: it proves the host end to end and sets the bar to beat.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from vsinr.hookspecs import hookimpl
from vsinr.methods import EngineRequest, MethodSpec, NativeResize, Param, TaskSupport, WindowedEngine

__version__ = "0.1.0"

#: kernel name → (resize function, its extra arguments)
KERNELS: dict[str, NativeResize] = {
    "bicubic": ("Bicubic", {}),
    "mitchell": ("Bicubic", {"filter_param_a": 1 / 3, "filter_param_b": 1 / 3}),
    "spline36": ("Spline36", {}),
    "lanczos": ("Lanczos", {}),
    "bilinear": ("Bilinear", {}),
}


def _resize(params: Any) -> NativeResize:
    return KERNELS[params["kernel"]]


def _load(request: EngineRequest) -> WindowedEngine:
    from vsinr_classic.engine import BlendEngine

    return BlendEngine()


SPEC = MethodSpec(
    name="classic",
    version=__version__,
    summary="resize (zimg) + linear blend between source frames; the baseline",
    tasks={
        "stvsr": TaskSupport(priority=0),
        "interpolate": TaskSupport(priority=0, sscales=(Fraction(1),)),
    },
    params=(
        Param(name="kernel", type="data", default="bicubic", doc="spatial resize kernel", choices=tuple(KERNELS)),
    ),
    load=_load,
    native_resize=_resize,
)


@hookimpl
def vsinr_methods() -> list[MethodSpec]:
    return [SPEC]
