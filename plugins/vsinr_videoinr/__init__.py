"""videoinr: continuous space-time super-resolution (VideoINR, Chen et al., CVPR 2022).

A pair of low-resolution frames is encoded once; any pixel at any time between them and at any spatial
scale is decoded by SIRENs through learned flows. The default weights are ours (``weights/``, see the
model card there); ``weights=`` also takes the authors' ``latest_G.pth``.
"""

from __future__ import annotations

from vsinr.hookspecs import hookimpl
from vsinr.methods import EngineRequest, MethodSpec, Param, TaskSupport, WindowedEngine

__version__ = "0.1.0"


def _load(request: EngineRequest) -> WindowedEngine:
    from vsinr_videoinr.engine import VideoINREngine, load_model

    precision = request.param("precision")
    on_gpu = request.device.startswith("cuda")
    if precision == "auto":
        precision = "fp16" if request.half else "fp32"
    if precision != "fp32" and not on_gpu:
        raise ValueError(f"precision={precision!r} needs a CUDA device; on the CPU videoinr computes in fp32")
    return VideoINREngine(load_model(request.weights), request.device, precision)


SPEC = MethodSpec(
    name="videoinr",
    version=__version__,
    summary="VideoINR: any spatial scale, any frame rate, from pairs of frames (learned)",
    tasks={
        "stvsr": TaskSupport(priority=100),
        "interpolate": TaskSupport(priority=100),
    },
    params=(
        Param(name="precision", type="data", default="auto", doc="auto (fp16 for RGBH on CUDA, else fp32), fp32, fp16, bf16",
              choices=("auto", "fp32", "fp16", "bf16")),
    ),
    load=_load,
)


@hookimpl
def vsinr_methods() -> list[MethodSpec]:
    return [SPEC]
