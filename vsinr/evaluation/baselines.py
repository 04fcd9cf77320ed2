"""What a user would pick instead of vsinr, as VapourSynth graphs on RGBS clips: zimg resizers, frame
repeat, linear blend, mvtools FlowFPS, median and BM3D denoising, Laplace hole filling and a temporal median."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import vapoursynth as vs

from vsinr.io import media
from vsinr.ops import holes

core = vs.core


def resize(clip: vs.VideoNode, sscale: int, kernel: str = "Bicubic") -> vs.VideoNode:
    return getattr(core.resize, kernel)(clip, clip.width * sscale, clip.height * sscale)


def repeat(clip: vs.VideoNode, tscale: int) -> vs.VideoNode:
    return core.std.Interleave([clip] * tscale)


def blend(clip: vs.VideoNode, tscale: int) -> vs.VideoNode:
    """Linear blend between each frame and the next (the last frame is held)."""
    following = clip[1:] + clip[-1]
    parts = [clip] + [core.std.Merge(clip, following, weight=i / tscale) for i in range(1, tscale)]
    return core.std.Interleave(parts)


def flowfps(clip: vs.VideoNode, tscale: int) -> vs.VideoNode:
    """mvtools block-motion interpolation (it needs integer YUV: 16-bit 4:4:4 round trip, BT.709)."""
    if not hasattr(core, "mv"):
        raise RuntimeError("mvtools is not installed (pip install vapoursynth-mvtools)")
    if min(clip.width, clip.height) < 64:
        # mvtools 29 aborts the whole process (free(): invalid pointer) on real footage this small
        raise RuntimeError(f"FlowFPS needs frames of at least 64 pixels a side, got {clip.width}x{clip.height}")
    yuv = core.resize.Bicubic(clip, format=vs.YUV444P16, matrix_s="709")
    sup = core.mv.Super(yuv)
    backward = core.mv.Analyse(sup, isb=True)
    forward = core.mv.Analyse(sup, isb=False)
    fps = Fraction(clip.fps.numerator, clip.fps.denominator) * tscale
    out = core.mv.FlowFPS(yuv, sup, backward, forward, num=fps.numerator, den=fps.denominator)
    return core.resize.Bicubic(out, format=vs.RGBS, matrix_in_s="709")


def median(clip: vs.VideoNode) -> vs.VideoNode:
    """3×3 median: the classical remedy for salt-and-pepper impulses."""
    return core.std.Median(clip)


def bm3d(clip: vs.VideoNode, sigma: float) -> vs.VideoNode:
    """BM3D (basic + final estimate) in the OPP colour space; ``sigma`` on the 0–255 scale."""
    if not hasattr(core, "bm3d"):
        raise RuntimeError("BM3D is not installed (pip install vapoursynth-bm3d)")
    opp = core.bm3d.RGB2OPP(clip, sample=1)
    basic = core.bm3d.Basic(opp, sigma=[sigma, sigma, sigma], matrix=100)
    final = core.bm3d.Final(opp, basic, sigma=[sigma, sigma, sigma], matrix=100)
    return core.bm3d.OPP2RGB(final, sample=1)


def regionfill(clip: vs.VideoNode, mask: np.ndarray) -> vs.VideoNode:
    """Fill the pixels where ``mask`` ((H, W), or (T, H, W) frame by frame) is True by Laplace
    interpolation from the hole's border (MATLAB's ``regionfill``, ``vsinr.ops.holes.LaplaceFill``), frame
    by frame; other pixels are untouched."""
    laplace = holes.LaplaceFill(mask)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        laplace([np.asarray(out[p]) for p in range(3)], n)
        return out

    return core.std.ModifyFrame(clip, clip, fill)


def temporal_median(clip: vs.VideoNode, mask: np.ndarray, radius: int = 3) -> vs.VideoNode:
    """Fill each hole pixel with the median of the values the same pixel has where it is known, in the
    ``radius`` frames either side; pixels known in none of them (a static hole) get ``regionfill``'s.
    Computed for the whole clip when called (it is a reference, not a streaming filter)."""
    filled = holes.temporal_fill(np.stack(media.read_frames(clip)), mask, radius)
    return media.clip_from_arrays(list(filled), clip.fps)
