"""ofsiren: OF-SIREN (Zhuang et al., 2022), frame interpolation by a SIREN fitted to the clip itself whose
exact derivatives follow the clip's optical flow. No training data and no weights: every chunk of the
clip is fitted on first use and cached on disk.

- ``Interpolate(clip, factor, method="ofsiren")`` or with ``fps_num``/``fps_den``: any time instant.
- ``STVSR(clip, sscale, tscale, method="ofsiren")``: the representation is continuous in x and y too,
  so it can be sampled on a finer grid; spatially this is bicubic plus what the SIREN adds between
  pixels, which nothing constrains (see docs/ofsiren.md for how good that is).

Conventions:
- Inputs (t, y, x), in that order, each normalised to [-1, 1]: t = 2τ/(T-1) - 1 for time τ in source
  frames over a piece of T observed frames; y = 2·(row - y0)/(h-1) - 1 and x likewise over the patch
  (y0, x0, h, w) a SIREN covers, at pixel centres. Outputs are RGB scaled to [-1, 1].
- Patches (ours, for speed and capacity): the frame is cut into a grid of about ``patch``-pixel
  squares, each extended by ``margin`` pixels into its neighbours and given its own small SIREN; all
  run at once as batched matrix products, so a step costs what one small SIREN costs while capacity
  grows with the frame. Renderings are blended across the margins with weights falling to the
  patch's inner edges. ``patch=0`` is one SIREN for the whole frame, as in the paper.
- What the SIRENs model (ours): f = B + g. B is a base through the observed frames, equal to them at
  observed times: ``warp`` (the default of ``fast``: between frames k and k+1 each pixel is fetched
  from both along the flow from time τ, approximated from the flows at the same position as in Super
  SloMo, and blended (1-s, s); its change along the motion is a central difference a tenth of a frame
  either side), ``linear`` (the blend of the two frames around t; at an observed frame, where it has a
  kink, its time derivative is the central difference), ``cubic`` (Catmull-Rom, C¹) or ``none`` (B = 0:
  the SIREN is the clip, as in the paper). g is the SIRENs, whose last layer starts at zero. The
  residual form leaves the network what the base gets wrong. With λ = 0 the SIRENs only learn g = 0 at
  observed pixels, so the result is about B. With ``warp`` the flow already moves the base, so the flow
  term adds less than with a blend (docs/ofsiren.md has both).
- The velocity the constraint uses: with ``warp``, the base's own, (1-s)·F(k→k+1) - s·F(k+1→k) at the
  same position; with the other bases, the nearest observed frame's.
- Flow: per observed frame, the velocity (u, v) in pixels per frame is the mean of the forward flow
  and the negated backward flow (OpenCV DIS, no learned weights; ``vsinr.ops.flow``), with a
  confidence that drops where the two disagree (occlusions). Flow comes from observed frames only.
- The constraint: the change of f along the motion over one frame, ∂f/∂τ + u ∂f/∂x + v ∂f/∂y in
  [-1, 1] value units per frame (for g: J_g · (2/(T-1), 2v/(h-1), 2u/(w-1)) in its own coordinates),
  should vanish. It is imposed at random observed pixels and, for a ``between`` share of the points
  (half), at random times between observed frames (with the velocity above). It is computed in
  forward mode: a tangent carried through the SIREN's forward pass.
- Loss: mean squared error at observed pixels + λ · mean |∂f/∂τ + u ∂f/∂x + v ∂f/∂y| weighted by the
  confidence. Because the direction is "one frame of motion", λ does not depend on the chunk length,
  the frame size or the patch size; the paper's λ = 0.12 was against its own (unpublished) scaling.
- SIREN: ω₀ = ω = ``omega`` for every sine layer; first layer U(±1/3), hidden and output layers
  U(±√(6/fan_in)/ω), biases U(±1/√fan_in) as PyTorch's Linear. ``layers`` counts linear layers, the
  output included (the paper's "depth 6" read as 6 linear layers).
- Fitting: Adam, learning rate decayed on a cosine to zero, ``batch`` random points per step spread
  evenly over the patches, fp32 (TF32 matmuls on CUDA), seeded from the frames, so the same frames
  always give the same fit. A non-finite loss stops the fit with an error naming the step; nothing is
  rendered or cached from it.
- Chunks: ``chunk`` observed frames overlapping by ``overlap``, fitted independently and blended in
  the overlap (``vsinr.serving.timing.Chunks``), split at scene changes; fitted on first use, cached on disk
  (``vsinr.runtime.fitting``). Observed frames at the source size pass through unchanged.

Presets: ``fast`` (16-pixel patches of 4 layers × 64, ω 25, warp base, λ 0.1, 1500 steps of 8192
points: under a minute per chunk of 12 frames of 176×144 on two CPU cores) and ``paper`` (one SIREN of
6 layers × 720 for the whole frame, ω 25, no base, λ 0.12, 15000 steps of 65536 points: a GPU job).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from vsinr.host.hookspecs import hookimpl
from vsinr.host.methods import CACHE, Call, EngineRequest, FittedEngine, MethodSpec, Param, TaskSupport

__version__ = "0.1.0"


def _check(params: Mapping[str, Any], call: Call) -> str | None:
    chunk, overlap = int(params["chunk"]), int(params["overlap"])
    if chunk < 2:
        return f"chunk={chunk} is too short: give at least 2 frames (12 by default)"
    if not 0 <= overlap < chunk:
        return f"overlap={overlap} must be from 0 to chunk-1 ({chunk - 1})"
    if int(params["steps"]) < 0:
        return f"steps={params['steps']} must be 0 (the preset's) or more"
    return None


def _load(request: EngineRequest) -> FittedEngine:
    from vsinr_ofsiren.engine import OFSirenEngine, settings_for

    params = dict(request.params)
    return OFSirenEngine(settings_for(params), request.device, int(params["chunk"]), int(params["overlap"]), __version__)


SPEC = MethodSpec(
    name="ofsiren",
    version=__version__,
    summary="OF-SIREN: a SIREN fitted to the clip, its derivatives held to the optical flow (fitted per clip)",
    tasks={
        "interpolate": TaskSupport(priority=20, sscales=(Fraction(1),)),
        "stvsr": TaskSupport(priority=-10),
    },
    params=(
        Param(name="preset", type="data", default="fast", doc="fast (CPU previews) or paper (the paper's network)",
              choices=("fast", "paper")),
        Param(name="chunk", type="int", default=12, doc="observed frames fitted together"),
        Param(name="overlap", type="int", default=3, doc="frames shared by consecutive chunks, blended"),
        Param(name="lam", type="float", default=-1.0, doc="weight of the flow term; -1: the preset's, 0: none"),
        Param(name="steps", type="int", default=0, doc="optimiser steps per chunk; 0: the preset's"),
        Param(name="base", type="data", default="", doc="what the SIRENs correct: warp (the frames moved "
              "along the flow), linear (blend), cubic (Catmull-Rom) or none (the SIREN is the clip, as in the "
              "paper); empty: the preset's", choices=("", "warp", "linear", "cubic", "none")),
        Param(name="patch", type="int", default=-1, doc="pixels per patch side, one SIREN each; 0: one SIREN for "
              "the whole frame; -1: the preset's"),
        CACHE,
    ),
    engine="fitted",
    check=_check,
    takes_weights=False,
    load=_load,
)


@hookimpl
def vsinr_methods() -> list[MethodSpec]:
    return [SPEC]
