"""vsinr-lerp: the smallest complete vsinr method plugin.

``core.vsinr.STVSR(clip, 2, 2, method="lerp")`` resizes each source frame with bicubic interpolation and
blends the two frames around each output time linearly; ``sharpen`` adds an unsharp mask. It serves
STVSR at any scale and Interpolate, and shows every part of the contract a learned method uses: the
spec, a parameter, the engine's window and tiling attributes, and cheap registration.
"""

from __future__ import annotations

from vsinr.host.hookspecs import hookimpl
from vsinr.host.methods import EngineRequest, MethodSpec, Param, TaskSupport, WindowedEngine

__version__ = "1.0.0"


def _load(request: EngineRequest) -> WindowedEngine:
    # torch is imported here, not at the top: registration runs in every VapourSynth process
    from vsinr_lerp.engine import LerpEngine

    sharpen = float(request.param("sharpen"))
    if not 0 <= sharpen <= 4:
        raise ValueError(f"sharpen={sharpen} is out of range: give 0 (none) to 4")
    return LerpEngine(sharpen, request.device)


SPEC = MethodSpec(
    name="lerp",
    version=__version__,
    summary="bicubic resize + linear blend (example plugin)",
    tasks={
        "stvsr": TaskSupport(priority=-100),  # below every bundled method: chosen only by name
        "interpolate": TaskSupport(priority=-100),
    },
    params=(Param(name="sharpen", type="float", default=0.0, doc="unsharp-mask amount, 0 (none) to 4"),),
    load=_load,
)


@hookimpl
def vsinr_methods() -> list[MethodSpec]:
    return [SPEC]
