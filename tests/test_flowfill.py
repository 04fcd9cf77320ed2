"""flowfill through VapourSynth: holes filled from what other frames show, every other pixel exact, the
same bytes in any order, scene changes respected, an untrained network exactly its base, ``dilate``."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs
from conftest import error_of, frames, moving_frames
from vsinr_flowfill.model import CONFIGS, FillNet

import vsinr
from vsinr.io import media
from vsinr.ops import holes as H
from vsinr.runtime import weights

core = vs.core
COUNT, HEIGHT, WIDTH = 10, 64, 96


def dropouts(count: int = COUNT, seed: int = 0) -> np.ndarray:
    """(count, H, W) masks: two 12×12 boxes drawn anew in each frame."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((count, HEIGHT, WIDTH), bool)
    for mask in masks:
        for _ in range(2):
            y, x = rng.integers(4, HEIGHT - 16), rng.integers(4, WIDTH - 16)
            mask[y : y + 12, x : x + 12] = True
    return masks


def damaged(source: list[np.ndarray], masks: np.ndarray) -> vs.VideoNode:
    return media.clip_from_arrays([np.where(m, 0.0, f).astype(np.float32) for f, m in zip(source, masks, strict=True)],
                                  Fraction(24))


def mask_clip(masks: np.ndarray) -> vs.VideoNode:
    like = media.clip_from_arrays([np.zeros((3, HEIGHT, WIDTH), np.float32)] * len(masks), Fraction(24))
    return media.mask_clip(masks, like)


def test_holes_take_what_other_frames_show_and_every_other_pixel_stays() -> None:
    source, masks = moving_frames(COUNT, HEIGHT, WIDTH), dropouts()
    out = np.stack(frames(vsinr.inpaint(damaged(source, masks), mask_clip(masks), method="flowfill", refine=0)))
    truth = np.stack(source)
    keep = np.broadcast_to(~masks[:, None], truth.shape)
    assert np.array_equal(out[keep], truth[keep])  # bit for bit outside the holes
    error = float(((out - truth)[~keep] ** 2).mean())
    laplace = H.regionfill(np.stack([np.where(m, 0.0, f) for f, m in zip(source, masks, strict=True)]), masks)
    # the sliding texture is seen a frame away: far closer than any spatial fill
    assert error < 0.1 * float(((laplace - truth)[~keep] ** 2).mean())


def test_any_order_and_any_thread_count_give_the_same_bytes() -> None:
    source, masks = moving_frames(COUNT, HEIGHT, WIDTH), dropouts(seed=1)
    clip = vsinr.inpaint(damaged(source, masks), mask_clip(masks), method="flowfill", refine=0)
    forward = frames(clip)
    again = vsinr.inpaint(damaged(source, masks), mask_clip(masks), method="flowfill", refine=0, radius=6)
    backward = [np.asarray(again.get_frame(n)[0]) for n in reversed(range(COUNT))][::-1]
    assert all(np.array_equal(a[0], b) for a, b in zip(forward, backward, strict=True))
    threads = core.num_threads
    try:
        core.num_threads = 1
        single = frames(vsinr.inpaint(damaged(source, masks), mask_clip(masks), method="flowfill", refine=0, radius=5))
        core.num_threads = threads
        many = frames(vsinr.inpaint(damaged(source, masks), mask_clip(masks), method="flowfill", refine=0, radius=5))
    finally:
        core.num_threads = threads
    assert all(np.array_equal(a, b) for a, b in zip(single, many, strict=True))


def test_nothing_crosses_a_scene_change() -> None:
    cut = 5
    source, masks = moving_frames(COUNT, HEIGHT, WIDTH, cut=cut), dropouts(seed=2)
    clip = damaged(source, masks)
    clip = clip[: cut - 1] + core.std.SetFrameProps(clip[cut - 1], _SceneChangeNext=1) + \
        core.std.SetFrameProps(clip[cut], _SceneChangePrev=1) + clip[cut + 1 :]
    truth = np.stack(source)
    errors = {}
    for sc in (1, 0):
        out = np.stack(frames(vsinr.inpaint(clip, mask_clip(masks), method="flowfill", refine=0, sc=sc)))
        errors[sc] = [float(((out[n] - truth[n])[:, masks[n]] ** 2).mean()) for n in (cut - 1, cut)]
    # the other scene (the texture's negative) never reaches these holes; ignoring the cut lets it in
    assert max(errors[1]) < 1e-4 < max(errors[0]), errors


def test_an_untrained_network_gives_its_base_and_a_trained_one_changes_only_holes(tmp_path: Path) -> None:
    source, masks = moving_frames(COUNT, HEIGHT, WIDTH), dropouts(seed=3)
    model = FillNet(CONFIGS["fill_tiny"])
    zero = tmp_path / "zero.safetensors"
    weights.save(zero, model.state_dict(), "flowfill", model.config, half=False)
    torch.manual_seed(0)
    with torch.no_grad():
        model.tail.weight.normal_(0, 0.05)
    trained = tmp_path / "trained.safetensors"
    weights.save(trained, model.state_dict(), "flowfill", model.config, half=False)
    clip, mask = damaged(source, masks), mask_clip(masks)
    base = np.stack(frames(vsinr.inpaint(clip, mask, method="flowfill", refine=0)))
    assert np.array_equal(np.stack(frames(vsinr.inpaint(clip, mask, method="flowfill", refine=1, weights=str(zero)))), base)
    corrected = np.stack(frames(vsinr.inpaint(clip, mask, method="flowfill", refine=1, weights=str(trained))))
    changed = np.any(corrected != base, axis=1)
    assert changed.any() and not (changed & ~masks).any()


def test_dilate_grows_the_mask_and_bad_arguments_are_refused() -> None:
    source = moving_frames(COUNT, HEIGHT, WIDTH)
    masks = np.zeros((COUNT, HEIGHT, WIDTH), bool)
    masks[:, 30, 40] = True  # drawn tight: the damage is 5×5 around it
    broken = np.zeros_like(masks)
    broken[:, 28:33, 38:43] = True
    clip = damaged(source, broken)
    tight = np.stack(frames(vsinr.inpaint(clip, mask_clip(masks)[0], method="flowfill", refine=0)))
    grown = np.stack(frames(vsinr.inpaint(clip, mask_clip(masks)[0], method="flowfill", refine=0, dilate=2)))
    truth = np.stack(source)
    assert np.abs(tight - truth)[:, :, broken[0]].max() > 0.1  # the fringe stays black
    assert np.abs(grown - truth)[:, :, broken[0]].max() < 0.1
    gray = mask_clip(masks)
    assert "radius=0" in error_of(lambda: vsinr.inpaint(clip, gray, method="flowfill", radius=0))
    assert "dilate=-1" in error_of(lambda: vsinr.inpaint(clip, gray, method="flowfill", dilate=-1))


def test_a_frame_masked_whole_is_rebuilt_from_its_neighbours_and_any_gray_mask_reads() -> None:
    source = moving_frames(COUNT, HEIGHT, WIDTH)
    masks = np.zeros((COUNT, HEIGHT, WIDTH), bool)
    masks[4] = True  # a dropped frame
    out = np.stack(frames(vsinr.inpaint(damaged(source, masks), mask_clip(masks), method="flowfill", refine=0)))
    truth = np.stack(source)
    assert float(np.abs(out[4] - truth[4]).mean()) < 0.05  # from frames 3 and 5, not a grey frame
    assert np.array_equal(np.delete(out, 4, 0), np.delete(truth, 4, 0))
    holes = dropouts(seed=4)[0]
    eight = np.stack(frames(vsinr.inpaint(damaged(source, np.broadcast_to(holes, masks.shape)),
                                          mask_clip(holes[None])[0], method="flowfill", refine=0)))
    for fmt in (vs.GRAY16, vs.GRAYS):  # the same holes in 16 bits and in float: the same frames
        mask = core.resize.Point(mask_clip(holes[None])[0], format=fmt)
        other = np.stack(frames(vsinr.inpaint(damaged(source, np.broadcast_to(holes, masks.shape)), mask,
                                              method="flowfill", refine=0)))
        assert np.array_equal(other, eight)
