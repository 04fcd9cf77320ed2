"""The evaluation harness's VapourSynth-free parts: the degradations, the hole masks and fills, and the
commands recorded with results (``tests/test_bench.py`` runs the harness itself)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import moving_frames

from vsinr.evaluation import metrics
from vsinr.ops import degrade


def test_noise_is_gaussian_plus_ten_percent_impulses() -> None:
    frame = np.full((3, 200, 200), 0.5, np.float32)
    noisy = degrade.add_noise(frame, np.random.default_rng(1), sigma=0.05, impulse=0.1)
    impulses = np.all((noisy == 0) | (noisy == 1), axis=0)
    assert impulses.mean() == pytest.approx(0.1, abs=0.01)
    assert (noisy[:, impulses] == 1).mean() == pytest.approx(0.5, abs=0.05)
    assert (noisy[:, ~impulses] - 0.5).std() == pytest.approx(0.05, rel=0.05)


def test_jpeg_quality_orders_the_damage() -> None:
    frame = moving_frames(1)[0]
    scores = [metrics.psnr(degrade.jpeg(frame, q), frame) for q in (10, 20, 30, 40)]
    assert scores == sorted(scores) and scores[0] < scores[-1] - 2
    assert degrade.jpeg(frame, 40).shape == frame.shape


def test_hole_masks() -> None:
    masks = degrade.hole_masks(240, 320, np.random.default_rng(0), frames=3)
    assert masks["fixed"].sum() == 5 * 50 * 50  # five separate holes
    assert 50 * 50 < masks["random"].sum() <= 10 * 50 * 50
    moving = masks["moving"]
    assert moving.shape == (3, 240, 320) and not np.array_equal(moving[0], moving[1])


def test_hole_fills_never_read_the_holes() -> None:
    """What lies under a hole (here: garbage) changes nothing, and a frame that is all hole is mid-grey."""
    from vsinr.ops import holes

    rng = np.random.default_rng(2)
    frames = rng.random((4, 3, 30, 40), dtype=np.float32)
    mask = np.zeros((4, 30, 40), bool)
    mask[:, 10:20, 5:15] = True
    mask[1, :, 20:] = True
    garbage = np.where(mask[:, None], rng.random(frames.shape, dtype=np.float32) * 100, frames)
    for fill in (holes.regionfill, holes.temporal_fill):
        assert np.array_equal(fill(frames, mask), fill(garbage, mask))
    everything = np.ones((1, 30, 40), bool)
    assert np.all(holes.regionfill(frames[:1], everything) == 0.5)
    # the same holes in every frame, given frame by frame: one factorisation serves them all
    still = holes.LaplaceFill(np.broadcast_to(mask[0], mask.shape))
    for n, frame in enumerate(frames.copy()):
        still(frame, n)
    assert len(still._systems) == 1


def test_recorded_commands_name_outside_files_by_their_name_alone() -> None:
    from vsinr.app.cli.tools import portable_command

    command = ("vsinr bench ../data/bikes.mp4 /home/me/clip.avi -m videoinr:weights=/tmp/w/base.safetensors "
               "--markdown docs/x.md 'my dir/../a.mp4'")
    assert portable_command(command) == ("vsinr bench bikes.mp4 clip.avi -m videoinr:weights=base.safetensors "
                                         "--markdown docs/x.md 'my dir/../a.mp4'")
