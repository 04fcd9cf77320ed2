"""Scene cuts: marked on a clip as ``_SceneChangePrev``/``_SceneChangeNext``, and listed for a run.

A cut lies between frames n-1 and n where the mean absolute difference of their luma, on copies at
most ``WIDTH`` pixels wide, exceeds a threshold (the measure and the default of the ecosystem's
``misc.SCDetect``). The marks are lazy (frame n reads frames n-1, n and n+1 of the small copy), so a
graph marked this way renders any range of frames the same way; temporal filters never blend across
a marked cut.
"""

from __future__ import annotations

from collections.abc import Callable

import vapoursynth as vs

#: ``--scene-threshold`` default: a mean luma change of 10 % of the range between two frames.
THRESHOLD = 0.1
WIDTH = 160


def _small(clip: vs.VideoNode) -> vs.VideoNode:
    """The luma of ``clip`` (RGB or YUV) as GRAYS, at most ``WIDTH`` wide."""
    width = min(clip.width, WIDTH)
    height = max(2, round(clip.height * width / clip.width / 2) * 2)
    width = max(2, width // 2 * 2)
    if clip.format.color_family == vs.RGB:
        return vs.core.resize.Bilinear(clip, width, height, format=vs.GRAYS, matrix_s="709")
    return vs.core.resize.Bilinear(vs.core.std.ShufflePlanes(clip, 0, vs.GRAY), width, height, format=vs.GRAYS)


def differences(clip: vs.VideoNode) -> tuple[vs.VideoNode, vs.VideoNode]:
    """Clips whose frame n carries ``SCPrevDiff`` (change from frame n-1) and ``SCNextDiff`` (to n+1);
    0 at the ends."""
    small = _small(clip)
    previous = small[0] + small[:-1] if small.num_frames > 1 else small
    following = small[1:] + small[-1] if small.num_frames > 1 else small
    return (vs.core.std.PlaneStats(small, previous, prop="SCPrev"), vs.core.std.PlaneStats(small, following, prop="SCNext"))


def mark(clip: vs.VideoNode, threshold: float = THRESHOLD) -> vs.VideoNode:
    """``clip`` with ``_SceneChangePrev``/``_SceneChangeNext`` set on the frames around each cut
    (marks already on a frame are kept); ``threshold`` 0 returns ``clip`` unchanged."""
    if threshold <= 0 or clip.num_frames < 2:
        return clip
    before, after = differences(clip)

    def set_marks(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = f[0].copy()
        if f[1].props["SCPrevDiff"] > threshold:
            out.props["_SceneChangePrev"] = 1
        if f[2].props["SCNextDiff"] > threshold:
            out.props["_SceneChangeNext"] = 1
        return out

    return vs.core.std.ModifyFrame(clip, [clip, before, after], set_marks)


def cuts(clip: vs.VideoNode, threshold: float = THRESHOLD, progress: Callable[[int], None] | None = None) -> list[int]:
    """The frames of ``clip`` that begin a new scene (a pass over its small luma copy)."""
    if threshold <= 0 or clip.num_frames < 2:
        return []
    before, _ = differences(clip)
    found = []
    for n, frame in enumerate(before.frames(close=True)):
        if frame.props["SCPrevDiff"] > threshold:
            found.append(n)
        if progress:
            progress(1)
    return found
