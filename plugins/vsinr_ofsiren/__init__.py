"""ofsiren: OF-SIREN (Zhuang et al., 2022), frame interpolation by a SIREN fitted to the clip itself whose
exact derivatives follow the clip's optical flow. No training data and no weights: every chunk of the
clip is fitted on first use and cached on disk.

- ``Interpolate(clip, factor, method="ofsiren")`` or with ``fps_num``/``fps_den``: any time instant.
- ``STVSR(clip, sscale, tscale, method="ofsiren")``: the representation is continuous in x and y too,
  so it can be sampled on a finer grid; spatially this is bicubic plus what the SIREN adds between
  pixels, which nothing constrains (see docs/ofsiren.md for how good that is).

Conventions:
- Inputs (t, y, x), in that order, each normalised to [-1, 1] over a piece of T frames of H×W:
  t = 2τ/(T-1) - 1 for time τ in source frames, y = 2·row/(H-1) - 1, x = 2·column/(W-1) - 1 at pixel
  centres. Outputs are RGB scaled to [-1, 1].
- The clip is modelled as f = B + g: B is the separable Catmull-Rom spline through the observed frames
  (equal to them at observed times; C¹, its derivatives there are central differences) and g is the
  SIREN, whose last layer starts at zero. With ``base="none"`` B = 0 and g is the whole clip, as in the
  paper. The residual form leaves the network only what interpolation gets wrong: motion.
- Flow: per observed frame, the velocity (u, v) in pixels per frame is the mean of the forward flow
  and the negated backward flow (OpenCV DIS, no learned weights; ``vsinr_ofsiren.flow``), with a
  confidence that drops where the two disagree. Flow comes from observed frames only.
- The constraint: the change of f along the motion over one frame, J_f · (2/(T-1), 2v/(H-1),
  2u/(W-1)), in [-1, 1] value units, should vanish. It is imposed at random observed pixels and, for a
  ``between`` share of the points, at random times between observed frames with the nearest frame's
  flow. It is computed in forward mode, a tangent carried through the SIREN's forward pass.
- Loss: mean squared error of f at observed pixels + λ · mean |J_f · d| weighted by the confidence.
  Because d is "one frame of motion" in normalised units, λ does not depend on the chunk length or
  the frame size (the paper's λ = 0.12 was against unpublished scalings and does not carry over).
- SIREN: ω₀ = ω = ``omega`` for every sine layer; first layer U(±1/3), hidden and output layers
  U(±√(6/fan_in)/ω), PyTorch's default biases. ``layers`` counts linear layers, the output included
  (the paper's "depth 6" read as 6 linear layers).
- Fitting: Adam with a cosine-decayed learning rate, ``batch`` random points per step, fp32 (TF32
  matmuls on CUDA), seeded from the frames so the same frames always give the same fit. A non-finite
  loss stops the fit with an error; nothing is rendered from it.
- Chunks: ``chunk`` observed frames overlapping by ``overlap``, fitted independently and blended in
  the overlap (``vsinr.timing.Chunks``); split at scene changes. Observed frames at the source size
  pass through unchanged.

Presets: ``fast`` (5 layers of 128, ω 25, 1500 steps of 8192 points: a minute or two per chunk on a
CPU) and ``paper`` (6 layers of 720, ω 25, 15000 steps of 65536 points: for a GPU).
"""

from __future__ import annotations

from fractions import Fraction

from vsinr.hookspecs import hookimpl
from vsinr.methods import CACHE, EngineRequest, FittedEngine, MethodSpec, Param, TaskSupport

__version__ = "0.1.0"


def _load(request: EngineRequest) -> FittedEngine:
    from vsinr_ofsiren.engine import PRESETS, OFSirenEngine, settings_for

    params = dict(request.params)
    if params["preset"] not in PRESETS:
        raise ValueError(f"preset={params['preset']!r} is not one of {', '.join(PRESETS)}")
    chunk, overlap = int(params["chunk"]), int(params["overlap"])
    if chunk < 2:
        raise ValueError(f"chunk={chunk} is too short: give at least 2 frames (12 by default)")
    if not 0 <= overlap < chunk:
        raise ValueError(f"overlap={overlap} must be from 0 to chunk-1 ({chunk - 1})")
    return OFSirenEngine(settings_for(params), request.device, chunk, overlap, __version__)


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
        Param(name="base", type="data", default="", doc="what the SIRENs correct: linear (blend), cubic "
              "(Catmull-Rom) or none (the SIREN is the clip, as in the paper); empty: the preset's",
              choices=("", "linear", "cubic", "none")),
        Param(name="patch", type="int", default=-1, doc="pixels per patch side, one SIREN each; 0: one SIREN for "
              "the whole frame; -1: the preset's"),
        CACHE,
    ),
    load=_load,
)


@hookimpl
def vsinr_methods() -> list[MethodSpec]:
    return [SPEC]
