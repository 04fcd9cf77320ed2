"""snerv: SNeRV (Kim et al., ECCV 2024), a clip stored as small per-frame embeddings of its wavelet low
band and a decoder that restores the high bands; fitted per clip.

- ``core.vsinr.Inpaint(clip, mask, method="snerv")``: fits each chunk with the loss masked where the
  mask is non-zero and fills those pixels from the representation; the others stay exact.
- ``core.vsinr.Interpolate(clip, 2, method="snerv")``: SNeRV-T fitted on the source frames renders the
  times between them as a correction of the two neighbours moved along the optical flow (``temporal``).
- ``vsinr encode IN -o OUT.vsnerv --size 1.5M``: the neural codec (fit, optional pruning, 8-bit decoder
  and 6-bit embeddings, entropy coding, a checksummed container); ``vsinr decode OUT.vsnerv -o out.mkv``.

Conventions (see ``model``, ``fit`` and ``compress``):
- Frames are RGB in [0, 1]. They are padded at the bottom and right (edges repeated) to a size the
  strides divide (``model.plan``) and cropped back after decoding.
- Haar: orthonormal, one level; bands ordered LH, HL, HH (``wavelet``).
- Model sizes count the decoder (not the encoder, which only fitting needs, nor the LL head) plus the
  embeddings and [min, max] of every frame, as the paper does; ``model.sized`` picks ``fc_dim``.
- Fitting: batch of one frame, Adam at 1e-3 with 10% warm-up then a cosine, gradient norm clipped at 1,
  loss 0.7·L1 + 0.3·(1 - SSIM) on the frame, the normalised LL and the high bands, weighted equally.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsinr.host.hookspecs import hookimpl
from vsinr.host.methods import CACHE, Call, EncodeOptions, EngineRequest, MethodSpec, Param, TaskSupport

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import torch

__version__ = "0.3.0"  # 0.2: format version 2 files, holes filled classically; 0.3: SNeRV-T corrects a flow base


class SNeRVCodec:
    """``vsinr.host.methods.Codec`` for SNeRV-B files (``.vsnerv``)."""

    suffix = ".vsnerv"

    def encode(self, frames: torch.Tensor, fps: Fraction, path: Path, options: EncodeOptions,
               log: Callable[[str], None]) -> Mapping[str, Any]:
        from vsinr_snerv.compress import encode

        result = encode(frames, fps, path, size=options.size, epochs=options.epochs, prune_share=options.prune,
                        finetune=options.finetune, device=options.device, log=log)
        return {"bytes": result.bytes, "bpp": result.bpp, "psnr": result.psnr, "psnr_fitted": result.psnr_fitted,
                "fc_dim": result.config.fc_dim, "strides": list(result.config.strides)}

    def open(self, path: Path, device: str = "cpu") -> Any:
        from vsinr_snerv.compress import open_file

        return open_file(path, device)


#: The model-size presets, in parameters as the paper counts them (``model.sized``).
SIZES = {"0.35M": 0.35e6, "0.75M": 0.75e6, "1.5M": 1.5e6, "3M": 3.0e6}


def target_parameters(size: str | float) -> float:
    """The parameter count ``size`` names: a preset such as "1.5M", or a positive number."""
    try:
        target = SIZES[size] if size in SIZES else float(size)
    except ValueError:
        target = 0.0
    if not 0 < target < float("inf"):
        raise ValueError(f"size={size!r} is neither one of {', '.join(SIZES)} nor a number of parameters")
    return target


def _check(params: Mapping[str, Any], call: Call) -> str | None:
    chunk, overlap, epochs = int(params["chunk"]), int(params["overlap"]), int(params["epochs"])
    if chunk < 1:
        return f"chunk={chunk}: give at least 1 frame (32 by default)"
    if not 0 <= overlap < chunk:
        return f"overlap={overlap} must be from 0 to chunk-1 ({chunk - 1})"
    if epochs < 1:
        return f"epochs={epochs}: give at least 1"
    if not 0 <= float(params["hold"]) <= 1:
        return f"hold={params['hold']} is a probability: give a value from 0 to 1"
    try:
        target_parameters(str(params["size"]))
    except ValueError as exc:
        return str(exc)
    return _check_size(str(params["size"]), min(chunk, call.frames), call)


def _check_size(size: str, frames: int, call: Call) -> str | None:
    """Whether ``size`` can make a model for a chunk of ``frames`` frames of the clip (the smallest
    model has a floor that grows with the frame size and count): found here, not at the first frame."""
    from vsinr_snerv import temporal
    from vsinr_snerv.model import sized

    try:
        if call.task == "interpolate":
            sized(call.height, call.width, frames, size, temporal.tconfig_for, temporal.t_total_parameters)
        else:
            sized(call.height, call.width, frames, size)
    except ValueError as exc:
        return str(exc)
    return None


def _load(request: EngineRequest) -> Any:
    from vsinr_snerv.engine import SNeRVEngine

    p = dict(request.params)
    return SNeRVEngine(request.read("task"), str(p["size"]), int(p["epochs"]), request.device, int(p["chunk"]),
                       int(p["overlap"]), __version__, float(p["hold"]))


SPEC = MethodSpec(
    name="snerv",
    version=__version__,
    summary="SNeRV: wavelet-split neural representation fitted per clip; in-painting, and a neural video codec "
            "(vsinr encode)",
    tasks={
        "inpaint": TaskSupport(priority=10, sscales=(Fraction(1),)),
        "interpolate": TaskSupport(priority=5, sscales=(Fraction(1),)),
    },
    params=(
        Param(name="size", type="data", default="0.75M",
              doc="model size per chunk: 0.35M, 0.75M, 1.5M, 3M or a number of parameters"),
        Param(name="epochs", type="int", default=150, doc="fitting passes over a chunk's frames (the paper: 300)"),
        Param(name="chunk", type="int", default=32, doc="frames fitted together"),
        Param(name="overlap", type="int", default=4, doc="frames shared by consecutive chunks, blended"),
        Param(name="hold", type="float", default=1.0, doc="Interpolate (SNeRV-T): share of fitting steps that "
              "decode a frame from its neighbours alone, as an in-between time is (the others decode a frame "
              "from itself, teaching the correction to stay zero where the base is right)"),
        CACHE,
    ),
    engine="fitted",
    reads=frozenset({"task"}),  # Inpaint fits with the mask
    check=_check,
    takes_weights=False,
    load=_load,
    codec=SNeRVCodec,
)


@hookimpl
def vsinr_methods() -> list[MethodSpec]:
    return [SPEC]
