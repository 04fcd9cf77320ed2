"""Frame scheduling for temporal filters: which source frames an output needs, a thread-safe cache of
per-window results, scene changes and where each output's props come from.

The outputs of a window are computed in groups of at most ``GROUP`` consecutive frames, one call per
group, the same way whichever of its frames is asked for first: output bytes do not depend on request
order or on the number of threads, and the memory of one request does not grow with the rate factor.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from vsinr.serving.timing import Windows

#: Output frames of a window made by one render call (and held until delivered): a window of
#: Interpolate(clip, 128) makes 128 frames, in 8 calls instead of one.
GROUP = 16


class SourceFrame(Protocol):
    """A source frame as the scheduler needs it."""

    def image(self, slot: int) -> Any:
        """The frame as a (3, H, W) float tensor on the CPU, valid while the frame is held and until
        this thread reads another frame into the same ``slot``."""
        ...

    def mask(self) -> Any:
        """Inpaint's mask of this frame as a (1, H, W) tensor, 1 where pixels are filled; None without one."""
        ...

    def flag(self, key: str) -> bool:
        """The truth of an integer frame property (False when absent)."""
        ...


@dataclass(frozen=True)
class Output:
    """One rendered output frame and what the host still has to set on it."""

    frame: Any  # the host's handle (a VSFrame the bridge owns until it is delivered)
    scene_prev: bool
    scene_next: bool
    source_time: Fraction


class Renderer(Protocol):
    """Renders one window: fills ``out[i]`` (3, H', W') with the output at local time ``times[i]`` from the
    window's ``frames`` (3, H, W, on the CPU). ``first`` is the source number of the window's first frame;
    ``cuts`` the source numbers followed by a scene change (empty when scene changes are ignored);
    ``masks`` Inpaint's masks, one (1, H, W) per frame, or None. Both renderers
    (``vsinr.runtime.inference``, ``vsinr.runtime.fitting``) keep the source's pixels outside them."""

    def __call__(self, frames: Sequence[Any], times: Sequence[float], out: Sequence[Any], *, first: int,
                 cuts: frozenset[int], masks: Sequence[Any] | None) -> None: ...


#: Makes an output frame whose props start as a copy of the given source's: (handle, (3, H', W') tensor).
Allocator = Callable[[SourceFrame], tuple[Any, Any]]


class WindowScheduler:
    """Serves output frames window by window, caching each group's outputs until they are delivered
    (at most ``capacity`` frames)."""

    def __init__(
        self,
        windows: Windows,
        render: Renderer,
        allocate: Allocator,
        release: Callable[[Any], None],
        *,
        scene_change: bool = True,
        capacity: int = 2 * GROUP,
    ):
        self.windows = windows
        self.timemap = windows.timemap
        self.render = render
        self.allocate = allocate
        self.release = release
        self.scene_change = scene_change
        self.capacity = capacity
        self._lock = threading.Lock()
        self._group_locks: dict[tuple[int, int], threading.Lock] = {}
        self._cache: OrderedDict[tuple[int, int], dict[int, Output]] = OrderedDict()

    def sources(self, k: int) -> list[int]:
        """Source frames output k needs, ascending and without repeats."""
        return sorted(set(self.windows.sources(self.windows.of(k))))

    def get(self, k: int, fetch: Callable[[int], SourceFrame]) -> Output:
        """Output frame k (the caller owns its frame); ``fetch`` gives the frames listed by ``sources(k)``."""
        j = self.windows.of(k)
        served = self.windows.outputs(j)
        g = (k - served.start) // GROUP
        key = (j, g)
        with self._lock:
            group_lock = self._group_locks.setdefault(key, threading.Lock())
        with group_lock:  # one computation per group at a time; other groups go on in parallel
            found = self._take(key, k)
            if found is not None:
                return found
            outputs = self._compute(j, served[g * GROUP : (g + 1) * GROUP], fetch)
            output = outputs.pop(k)
            with self._lock:
                if key in self._cache or not outputs:  # k had been delivered before: keep what is cached
                    spare = list(outputs.values())
                else:
                    self._cache[key] = outputs
                    spare = []
                    # at most ``capacity`` undelivered frames (the newest group always stays)
                    while len(self._cache) > 1 and sum(map(len, self._cache.values())) > self.capacity:
                        spare += self._cache.popitem(last=False)[1].values()
            for extra in spare:
                self.release(extra.frame)
            return output

    def _take(self, key: tuple[int, int], k: int) -> Output | None:
        """Remove and return output k from the cache, freeing the group's entry once it is empty."""
        with self._lock:
            outputs = self._cache.get(key)
            if outputs is None or k not in outputs:
                return None
            output = outputs.pop(k)
            if outputs:
                self._cache.move_to_end(key)
            else:
                del self._cache[key]
                self._group_locks.pop(key, None)
            return output

    def close(self) -> None:
        """Release every undelivered output."""
        with self._lock:
            for outputs in self._cache.values():
                for output in outputs.values():
                    self.release(output.frame)
            self._cache.clear()

    def _compute(self, j: int, ks: range, fetch: Callable[[int], SourceFrame]) -> dict[int, Output]:
        sources = self.windows.sources(j)
        start = self.windows.start(j)
        frames = {s: fetch(s) for s in set(sources)}
        last = self.timemap.num_source - 1
        times: list[Fraction] = []
        plan: list[tuple[int, bool, bool]] = []
        for k in ks:
            tau = self.timemap.held_time(k)
            left = math.floor(tau)
            prop_source = min(last, math.floor(self.timemap.source_time(k) + Fraction(1, 2)))
            if tau != left and self.scene_change and self._cut_after(left, frames):
                tau, prop_source = Fraction(left), left  # never blend across a cut: hold the left frame
            times.append(tau - start)
            prev = frames[left].flag("_SceneChangePrev") and (
                k == 0 or math.floor(self.timemap.held_time(k - 1)) < left
            )
            nxt = frames[left].flag("_SceneChangeNext") and (
                k == self.timemap.num_frames - 1 or math.floor(self.timemap.held_time(k + 1)) > left
            )
            plan.append((prop_source, prev, nxt))
        allocated = [self.allocate(frames[p]) for p, _, _ in plan]
        try:
            cuts = frozenset(s for s in frames if self.scene_change and s + 1 in frames and self._cut_after(s, frames))
            masks = [frames[s].mask() for s in sources]
            self.render(
                [frames[s].image(i) for i, s in enumerate(sources)], [float(t) for t in times], [a[1] for a in allocated],
                first=start, cuts=cuts, masks=None if masks[0] is None else masks,
            )
        except BaseException:
            for handle, _ in allocated:
                self.release(handle)
            raise
        return {
            k: Output(frame=handle, scene_prev=prev, scene_next=nxt, source_time=t + start)
            for k, (handle, _), (p, prev, nxt), t in zip(ks, allocated, plan, times, strict=True)
        }

    @staticmethod
    def _cut_after(left: int, frames: dict[int, SourceFrame]) -> bool:
        right = frames.get(left + 1)
        return frames[left].flag("_SceneChangeNext") or (right is not None and right.flag("_SceneChangePrev"))
