"""The fitted-method renderer without VapourSynth or a real network: pieces split at cuts and fitted
once, chunks blended, the disk cache, and Inpaint's mask keeping the source pixels exact."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

from vsinr.host.methods import EngineRequest
from vsinr.runtime import fitting
from vsinr.serving.timing import Chunks, TimeMap


class MeanEngine:
    """Fits a piece as its mean frame and renders that at every time; counts its fits."""

    chunk, overlap, key = 4, 1, "mean v1"

    def __init__(self) -> None:
        self.fits: list[tuple[int, bool]] = []

    def fit(self, frames: torch.Tensor, seed: int, log: Callable[[str], None], checkpoint: Path | None,
            mask: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        self.fits.append((len(frames), mask is not None))
        known = torch.ones_like(frames[:, :1]) if mask is None else 1 - mask
        return {"mean": (frames * known).sum(0) / known.sum(0).clamp(min=1)}, {}

    def render(self, fitted: tuple[dict[str, torch.Tensor], dict[str, Any]], frames: torch.Tensor,
               times: Sequence[float], out: Sequence[torch.Tensor]) -> None:
        for target in out:
            target.copy_(fitted[0]["mean"])


def renderer(engine: MeanEngine, num_source: int, directory: Path | None) -> tuple[Any, Chunks]:
    import threading

    chunks = Chunks(TimeMap(num_source, Fraction(1), Fraction(1)), engine.chunk, engine.chunk - engine.overlap)
    store = fitting.FitStore("mean", directory)
    request = EngineRequest(device="cpu", half=False, weights="")
    return fitting.renderer("mean", engine, threading.Lock(), request, chunks, store, lambda text: None), chunks


def clip(n: int) -> list[torch.Tensor]:
    return [torch.full((3, 2, 2), float(i)) for i in range(n)]


def test_pieces_split_at_cuts() -> None:
    assert fitting.pieces(range(0, 6), frozenset({2})) == [range(0, 3), range(3, 6)]
    assert fitting.pieces(range(0, 4), frozenset({3, 7})) == [range(0, 4)]


def test_each_piece_is_fitted_once_and_a_cut_splits_it() -> None:
    engine = MeanEngine()
    render, chunks = renderer(engine, 4, None)
    frames = clip(4)
    out = [torch.empty(3, 2, 2) for _ in range(4)]
    render(frames, [0.0, 1.0, 2.0, 3.0], out, first=0)
    render(frames, [0.0, 1.0, 2.0, 3.0], out, first=0)
    assert engine.fits == [(4, False)] and float(out[0][0, 0, 0]) == 1.5
    render(frames, [0.0, 3.0], out[:2], first=0, cuts=frozenset({1}))
    assert engine.fits[1:] == [(2, False), (2, False)]
    assert [float(o[0, 0, 0]) for o in out[:2]] == [0.5, 2.5]  # each side of the cut from its own piece


def test_the_disk_cache_serves_a_second_store(tmp_path: Path) -> None:
    engine = MeanEngine()
    frames, out = clip(4), [torch.empty(3, 2, 2)]
    renderer(engine, 4, tmp_path)[0](frames, [1.0], out, first=0)
    renderer(engine, 4, tmp_path)[0](frames, [1.0], out, first=0)  # a new process would see only the files
    assert len(engine.fits) == 1 and len(list(tmp_path.glob("mean-*.safetensors"))) == 1


def test_a_mask_is_fitted_with_and_keeps_the_known_pixels_exact() -> None:
    engine = MeanEngine()
    render, _ = renderer(engine, 4, None)
    frames = clip(4)
    masks = [torch.zeros(1, 2, 2) for _ in range(4)]
    for m in masks:
        m[0, 0, 0] = 1  # one pixel to fill per frame
    out = [torch.empty(3, 2, 2) for _ in range(4)]
    render(frames, [0.0, 1.0, 2.0, 3.0], out, first=0, masks=masks)
    assert engine.fits == [(4, True)]
    assert all(torch.equal(o[:, 1:], f[:, 1:]) and torch.equal(o[:, 0, 1], f[:, 0, 1]) for o, f in zip(out, frames, strict=True))
    assert all(float(o[0, 0, 0]) == 0.0 for o in out)  # the filled pixel: the fit's (all frames masked there)


def test_a_masked_piece_keeps_its_cache_key() -> None:
    # the key hashes frames and mask as one 4-channel block, so caches written before masks were an
    # argument are still found
    engine, frames = MeanEngine(), torch.rand(3, 3, 4, 4)
    mask = (torch.rand(3, 1, 4, 4) > 0.5).float()
    assert fitting.piece_key("m", engine, frames, mask) == fitting.piece_key("m", engine, torch.cat([frames, mask], 1))
    assert fitting.piece_key("m", engine, frames, mask) != fitting.piece_key("m", engine, frames)


def test_a_fit_in_progress_does_not_stall_frames_of_fitted_pieces() -> None:
    import threading

    class Blocking(MeanEngine):
        def __init__(self) -> None:
            super().__init__()
            self.started, self.release = threading.Event(), threading.Event()

        def fit(self, frames, seed, log, checkpoint, mask=None):  # type: ignore[no-untyped-def]
            if float(frames[0, 0, 0, 0]) >= 3:  # the second chunk blocks until released
                self.started.set()
                assert self.release.wait(30)
            return super().fit(frames, seed, log, checkpoint, mask)

    engine = Blocking()
    render, chunks = renderer(engine, 7, None)  # chunks [0, 4) and [3, 7)
    frames = clip(7)
    out = [torch.empty(3, 2, 2)]
    render(frames, [1.0], out, first=0)  # the first chunk, fitted
    second = threading.Thread(target=render, args=(frames[3:], [2.0], [torch.empty(3, 2, 2)]), kwargs={"first": 3},
                              daemon=True)
    second.start()
    assert engine.started.wait(30)
    served = threading.Thread(target=render, args=(frames, [2.0], out), kwargs={"first": 0}, daemon=True)
    served.start()
    served.join(10)
    stalled = served.is_alive()
    engine.release.set()
    second.join(30)
    assert not stalled, "a frame of a fitted piece waited for another piece's fit"
    assert not second.is_alive() and len(engine.fits) == 2
