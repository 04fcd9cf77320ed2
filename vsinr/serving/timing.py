"""Exact mapping between output frames and source time, and the windows that serve them.

Source frame i sits at time i (in source-frame units) and lasts until i+1. Output frame k sits at
source time k·fps_in/fps_out. Times past the last source frame hold the last frame. All arithmetic is
on Fractions, so 24000/1001 → 60000/1001 is exact for any clip length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

MAX_FRAMES = 2**31 - 1


@dataclass(frozen=True)
class TimeMap:
    """Output frame ↔ source time for a source of ``num_source`` frames resampled to ``fps_out``."""

    num_source: int
    fps_in: Fraction
    fps_out: Fraction

    @property
    def ratio(self) -> Fraction:
        """Output frames per source frame."""
        return self.fps_out / self.fps_in

    @property
    def num_frames(self) -> int:
        return math.floor(self.num_source * self.ratio)

    @property
    def duration(self) -> Fraction:
        """Duration of one output frame in seconds (normalised, for ``_DurationNum/_DurationDen``)."""
        return 1 / self.fps_out

    def source_time(self, k: int) -> Fraction:
        """Source time of output frame k."""
        return k / self.ratio

    def held_time(self, k: int) -> Fraction:
        """Source time of output frame k, held at the last source frame past the end."""
        return min(self.source_time(k), Fraction(self.num_source - 1))

    def first_at_or_after(self, tau: Fraction) -> int:
        """The first output frame whose source time is ≥ tau."""
        return max(0, math.ceil(tau * self.ratio))


@dataclass(frozen=True)
class Windows:
    """Windows of ``size`` consecutive source frames, starting every ``step`` frames, ``lead`` frames
    before the times they serve.

    Window j serves the held source times in [j·step, (j+1)·step) and starts at source frame
    j·step - lead: ``lead`` > 0 gives an engine frames before the times it serves as well as after
    (a window centred on each frame: size 2r + 1, step 1, lead r). The last window serves everything
    after. A window never reaches outside the clip: the first ones are moved forward to start on frame
    0, the last one back to end on the last frame (and a clip shorter than a window repeats its last
    frame).
    """

    timemap: TimeMap
    size: int
    step: int
    lead: int = 0

    def __post_init__(self) -> None:
        if self.lead < 0 or (self.lead and self.lead + self.step > self.size - 1):
            raise ValueError(f"a window of {self.size} frames every {self.step} cannot lead by {self.lead}")

    @property
    def count(self) -> int:
        return max(1, math.ceil((self.timemap.num_source - self.size + self.lead) / self.step) + 1)

    def start(self, j: int) -> int:
        return max(0, min(j * self.step - self.lead, self.timemap.num_source - self.size))

    def sources(self, j: int) -> list[int]:
        """Source frame numbers read by window j, clamped to the clip."""
        last = self.timemap.num_source - 1
        return [min(self.start(j) + i, last) for i in range(self.size)]

    def segment(self, tau: float | Fraction) -> int:
        """The window that serves (held) source time ``tau``."""
        return min(math.floor(tau / self.step), self.count - 1)

    def of(self, k: int) -> int:
        """The window that serves output frame k."""
        return self.segment(self.timemap.held_time(k))

    def outputs(self, j: int) -> range:
        """The output frames window j serves."""
        first = 0 if j == 0 else self.timemap.first_at_or_after(Fraction(j * self.step))
        end = (
            self.timemap.num_frames
            if j == self.count - 1
            else min(self.timemap.num_frames, self.timemap.first_at_or_after(Fraction((j + 1) * self.step)))
        )
        return range(first, end)


@dataclass(frozen=True)
class Chunks(Windows):
    """Chunks of ``size`` observed frames starting every ``step`` frames, for methods fitted per chunk.

    Chunk c holds source frames from min(c·step, N - size) on (the last one moved back to end on the
    last frame). Output times are served as by ``Windows``: segment j, times [j·step, (j+1)·step), comes
    from chunk j; where chunk j-1 reaches into it (the overlap of size - step frames), the two chunks'
    renderings are blended with weights that go smoothly from chunk j-1 alone at j·step to chunk j alone
    where chunk j-1 ends, so nothing jumps at a chunk boundary. A window therefore reads chunk j-1 and
    chunk j.
    """

    def chunk(self, c: int) -> range:
        start = max(0, min(c * self.step, self.timemap.num_source - self.size))
        return range(start, min(start + self.size, self.timemap.num_source))

    def start(self, j: int) -> int:
        return self.chunk(j - 1 if j > 0 else 0).start

    def sources(self, j: int) -> list[int]:
        return list(range(self.start(j), self.chunk(j).stop))

    def weights(self, tau: float) -> list[tuple[int, float]]:
        """(chunk, weight) pairs whose renderings at source time ``tau`` are summed."""
        j = self.segment(tau)
        if j == 0:
            return [(0, 1.0)]
        begin, end = j * self.step, self.chunk(j - 1).stop - 1
        if tau >= end or end <= begin:
            return [(j, 1.0)]
        previous = 0.5 * (1 + math.cos(math.pi * (tau - begin) / (end - begin)))
        return [(j - 1, previous), (j, 1.0 - previous)] if previous < 1 else [(j - 1, 1.0)]
