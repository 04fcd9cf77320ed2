"""Frame scheduling for temporal filters: which source frames an output needs, a thread-safe cache of
per-window results, scene changes and where each output's props come from.

Every output of a window is computed in one call, the same way whichever of its frames is asked for
first, so output bytes do not depend on request order or on the number of threads.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from vsinr.timing import Windows


class SourceFrame(Protocol):
    """A source frame as the scheduler needs it."""

    def image(self) -> Any:
        """The frame as a (3, H, W) float tensor on the CPU."""
        ...

    def flag(self, key: str) -> bool:
        """The truth of an integer frame property (False when absent)."""
        ...


@dataclass(frozen=True)
class Output:
    """One rendered output frame and what the host writes with it."""

    image: Any  # (3, H, W) tensor on the CPU
    prop_source: int  # the source frame whose props are copied
    scene_prev: bool
    scene_next: bool
    source_time: Fraction


#: Renders a window: (frames (window, 3, H, W), local times) → one image per time.
Renderer = Callable[[Any, Sequence[float]], Sequence[Any]]


class WindowScheduler:
    """Serves output frames window by window, caching each window's outputs until they are delivered."""

    def __init__(self, windows: Windows, render: Renderer, *, scene_change: bool = True, capacity: int = 8):
        self.windows = windows
        self.timemap = windows.timemap
        self.render = render
        self.scene_change = scene_change
        self.capacity = capacity
        self._lock = threading.Lock()
        self._window_locks: dict[int, threading.Lock] = {}
        self._cache: OrderedDict[int, dict[int, Output]] = OrderedDict()

    def sources(self, k: int) -> list[int]:
        """Source frames output k needs, ascending and without repeats."""
        return sorted(set(self.windows.sources(self.windows.of(k))))

    def get(self, k: int, fetch: Callable[[int], SourceFrame]) -> Output:
        """Output frame k; ``fetch`` gives the source frames listed by ``sources(k)``."""
        j = self.windows.of(k)
        with self._lock:
            window_lock = self._window_locks.setdefault(j, threading.Lock())
        with window_lock:
            with self._lock:
                outputs = self._cache.get(j)
                if outputs is not None:
                    self._cache.move_to_end(j)
            if outputs is None:
                outputs = self._compute(j, fetch)
                with self._lock:
                    self._cache[j] = outputs
                    while len(self._cache) > self.capacity:
                        self._cache.popitem(last=False)
            with self._lock:
                output = outputs.pop(k)
                if not outputs:  # every output of the window delivered: free it
                    self._cache.pop(j, None)
                    self._window_locks.pop(j, None)
        return output

    def _compute(self, j: int, fetch: Callable[[int], SourceFrame]) -> dict[int, Output]:
        import torch

        sources = self.windows.sources(j)
        start = self.windows.start(j)
        frames = {s: fetch(s) for s in set(sources)}
        last = self.timemap.num_source - 1
        ks = list(self.windows.outputs(j))
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
        images = self.render(torch.stack([frames[s].image() for s in sources]), [float(t) for t in times])
        return {
            k: Output(image=img, prop_source=p, scene_prev=prev, scene_next=nxt, source_time=t + start)
            for k, img, (p, prev, nxt), t in zip(ks, images, plan, times, strict=True)
        }

    @staticmethod
    def _cut_after(left: int, frames: dict[int, SourceFrame]) -> bool:
        right = frames.get(left + 1)
        return frames[left].flag("_SceneChangeNext") or (right is not None and right.flag("_SceneChangePrev"))
