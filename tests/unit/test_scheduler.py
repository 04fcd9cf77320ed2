"""The window scheduler without VapourSynth: which frames an output needs, one render per window in any
request order, scene changes, masks, and every allocated frame released."""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

import torch

from vsinr.serving.scheduling import WindowScheduler
from vsinr.serving.timing import TimeMap, Windows


class Frame:
    """A source frame: a constant image of its number, with optional props and mask."""

    def __init__(self, n: int, props: dict[str, int], mask: torch.Tensor | None = None):
        self.n, self.props, self._mask = n, props, mask

    def image(self, slot: int) -> torch.Tensor:
        return torch.full((3, 2, 2), float(self.n))

    def mask(self) -> torch.Tensor | None:
        return self._mask

    def flag(self, key: str) -> bool:
        return bool(self.props.get(key, 0))


class Harness:
    """A scheduler over ``num_source`` frames at ``ratio`` whose renderer blends linearly and records calls."""

    def __init__(self, num_source: int = 6, ratio: int = 2, props: dict[int, dict[str, int]] | None = None,
                 masks: bool = False):
        self.props = props or {}
        self.masks = masks
        self.calls: list[dict[str, Any]] = []
        self.live: set[int] = set()
        self.images: dict[int, torch.Tensor] = {}
        self.handles = iter(range(10**6))
        windows = Windows(TimeMap(num_source, Fraction(1), Fraction(ratio)), 2, 1)
        self.scheduler = WindowScheduler(windows, self.render, self.allocate, self.live.remove)

    def render(self, frames: list[torch.Tensor], times: list[float], out: list[torch.Tensor], *, first: int,
               cuts: frozenset[int], masks: list[torch.Tensor] | None) -> None:
        self.calls.append({"first": first, "times": times, "cuts": cuts, "masks": masks})
        for t, o in zip(times, out, strict=True):
            i = min(int(t), len(frames) - 1)
            j = min(i + 1, len(frames) - 1)
            o.copy_(torch.lerp(frames[i], frames[j], t - i))

    def allocate(self, source: Frame) -> tuple[int, torch.Tensor]:
        handle = next(self.handles)
        self.live.add(handle)
        self.images[handle] = torch.empty(3, 2, 2)
        return handle, self.images[handle]

    def fetch(self, s: int) -> Frame:
        mask = torch.ones(1, 2, 2) if self.masks else None
        return Frame(s, self.props.get(s, {}), mask)

    def value(self, k: int) -> float:
        output = self.scheduler.get(k, self.fetch)
        self.live.remove(output.frame)  # delivered: the caller owns it
        return float(self.images[output.frame][0, 0, 0])


def test_sources_are_the_window_of_the_output() -> None:
    h = Harness()
    assert [h.scheduler.sources(k) for k in (0, 1, 2, 11)] == [[0, 1], [0, 1], [1, 2], [4, 5]]


def test_one_render_per_window_whatever_the_request_order() -> None:
    h = Harness()
    order = list(range(12))
    random.Random(1).shuffle(order)
    values = {k: h.value(k) for k in order}
    assert [values[k] for k in range(12)] == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5]
    assert len(h.calls) == 5  # windows [0,1] … [4,5]; the last serves times from 4 on
    assert not h.live  # nothing cached once everything was delivered


def test_scene_change_holds_the_left_frame_and_flags_the_border() -> None:
    h = Harness(props={2: {"_SceneChangeNext": 1}, 3: {"_SceneChangePrev": 1}})
    out = {k: h.scheduler.get(k, h.fetch) for k in range(4, 8)}
    assert [float(h.images[o.frame][0, 0, 0]) for o in out.values()] == [2, 2, 3, 3.5]  # 2.5 held at 2
    assert out[5].scene_next and not out[4].scene_next and out[6].scene_prev
    assert out[5].source_time == 2  # the held time is what the frame shows
    assert any(c["cuts"] == frozenset({2}) for c in h.calls)


def test_masks_reach_the_renderer_and_close_releases_what_was_not_delivered() -> None:
    h = Harness(masks=True)
    h.value(0)  # window 0 computes outputs 0 and 1; 1 stays cached
    assert h.calls[0]["masks"] is not None and len(h.calls[0]["masks"]) == 2
    assert len(h.live) == 1
    h.scheduler.close()
    assert not h.live


def test_a_large_rate_factor_renders_in_bounded_groups() -> None:
    from vsinr.serving.scheduling import GROUP

    h = Harness(num_source=3, ratio=64)
    values = [h.value(k) for k in range(3 * 64)]
    assert values[:3] == [0, 1 / 64, 2 / 64] and values[64] == 1 and values[-1] == 2
    assert max(len(c["times"]) for c in h.calls) == GROUP  # never a whole window of 64 at once
    assert len(h.calls) == 2 * 64 // GROUP + 64 // GROUP  # windows [0,1] and [1,2]; the last holds frame 2
    assert not h.live
    scattered = Harness(num_source=3, ratio=64)
    for k in (5, 40, 70, 100, 130, 180, 20):  # requests all over the clip: a bounded number stay cached
        scattered.value(k)
        assert len(scattered.live) <= scattered.scheduler.capacity
