"""ZSM's flow-guided configurations: the ×1 restoration's prefilter and base, the ×4 ×2 model's halfway
frames, the windows around each frame and the training script.

Tiny configurations with random weights; quality is measured by ``vsinr bench`` and in the model card.
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs
from conftest import error_of, frames, run, training_material
from test_classic import sliding
from vsinr_zsm import engine as zsm_engine
from vsinr_zsm.flowzsm import CONFIGS, FlowZSM, median3, onto, slot_order

from vsinr.io import media
from vsinr.ops import degrade
from vsinr.runtime import weights

core = vs.core
_count = itertools.count()


def flow_weights(directory: Path, trained: bool = True, config: str = "flow_tiny") -> Path:
    torch.manual_seed(0)
    model = FlowZSM(CONFIGS[config])
    if trained:  # a non-zero correction, so the network's part shows
        with torch.no_grad():
            model.tail.weight.normal_(0, 0.05)
    path = directory / f"flowzsm{next(_count)}.safetensors"
    weights.save(path, model.state_dict(), "zsm", model.config, half=False)
    return path


def noisy(truth: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [degrade.add_noise(f, rng) for f in truth]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    inner = (slice(None), slice(4, -4), slice(8, -8))
    return float(10 * np.log10(1 / np.mean((a[inner] - b[inner]) ** 2)))


def test_the_impulse_prefilter_replaces_only_black_and_white_pixels() -> None:
    model = FlowZSM(CONFIGS["flow_tiny"])
    frame = torch.rand(1, 3, 16, 20) * 0.8 + 0.1
    frame[0, :, 3, 4] = 1.0
    frame[0, :, 9, 11] = 0.0
    frame[0, 0, 5, 5] = 0.0  # black in one channel only: not an impulse
    filtered, guide, hit = model.prepare(frame)
    assert hit.sum() == 2 and hit[0, 0, 3, 4] == 1 and hit[0, 0, 9, 11] == 1
    keep = hit.expand_as(frame) == 0
    assert torch.equal(filtered[keep], frame[keep])
    median = median3(frame)
    assert torch.equal(filtered[0, :, 3, 4], median[0, :, 3, 4]) and torch.equal(guide, median)


def test_the_median_network_is_the_median_of_each_3x3_neighbourhood() -> None:
    torch.manual_seed(0)
    x = (torch.rand(2, 3, 9, 13) * 5).round() / 5  # with ties
    patches = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate").unfold(2, 3, 1).unfold(3, 3, 1)
    assert torch.equal(median3(x), patches.reshape(2, 3, 9, 13, 9).median(-1).values)


def test_untrained_model_is_the_weighted_temporal_average() -> None:
    model = FlowZSM(CONFIGS["flow_tiny"])  # radius 1
    centre = torch.rand(1, 3, 12, 16)
    same, other = centre.clone(), torch.rand(1, 3, 12, 16)
    slots = torch.stack([same, centre, other], 1)
    out = model(slots, slots, torch.zeros(1, 1, 12, 16))
    # a neighbour equal to the centre has weight 1; one unlike it has a weight near 0
    weight = torch.exp(-torch.nn.functional.avg_pool2d(
        torch.nn.functional.pad(((other - centre) ** 2).mean(1, keepdim=True), (2,) * 4, mode="replicate"), 5, 1)
        / model.spread**2)
    torch.testing.assert_close(out, (2 * centre + weight * other) / (2 + weight), atol=1e-6, rtol=0)


def test_bands_of_rows_equal_one_pass() -> None:
    torch.manual_seed(0)
    model = FlowZSM(CONFIGS["flow_tiny"])
    torch.nn.init.normal_(model.tail.weight, 0, 0.1)
    slots = torch.rand(1, 3, 3, 37, 20)
    hit = (torch.rand(1, 1, 37, 20) < 0.1).float()
    torch.testing.assert_close(model(slots, slots, hit, rows=8), model(slots, slots, hit), atol=1e-6, rtol=0)


def test_slots_repeat_the_end_frames_of_a_window() -> None:
    assert slot_order(2, 5, 2) == [0, 1, 2, 3, 4]
    assert slot_order(0, 5, 2) == [0, 0, 0, 1, 2]
    assert slot_order(4, 5, 2) == [2, 3, 4, 4, 4]
    # a scene change after frame 2: frames of the other shot are never used
    assert slot_order(2, 5, 2, frozenset({2})) == [0, 1, 2, 2, 2]
    assert slot_order(3, 5, 2, frozenset({2})) == [3, 3, 3, 4, 4]
    # halfway between frames 2 and 3: the frames around the middle
    assert slot_order(2, 6, 2, halfway=True) == [1, 2, 3, 4]
    assert slot_order(1, 6, 2, frozenset({3}), halfway=True) == [0, 1, 2, 3]
    assert slot_order(4, 6, 2, halfway=True) == [3, 4, 5, 5]


def test_alignment_moves_neighbours_onto_the_centre() -> None:
    truth = [torch.from_numpy(f) for f in sliding(3, shift=2)]
    stack = torch.stack(truth)
    moved, _ = onto(stack[1], stack[1], stack, stack, [0, 1, 2], itself=1)
    inner = (slice(None), slice(6, -6), slice(8, -8))
    for i in (0, 2):
        before = (stack[i] - stack[1])[inner].abs().mean()
        after = (moved[i] - stack[1])[inner].abs().mean()
        assert after < 0.2 * before
    assert torch.equal(moved[1], stack[1])


def test_denoise_restores_each_frame_from_its_neighbours(tmp_path: Path) -> None:
    truth = sliding(7)
    clip = media.clip_from_arrays(noisy(truth), Fraction(24), vs.RGBS)
    path = str(flow_weights(tmp_path, trained=False))
    out = core.vsinr.Denoise(clip, method="zsm", weights=path)
    assert (out.width, out.height, out.num_frames, out.fps) == (64, 48, 7, Fraction(24))
    got = frames(out)
    single = FlowZSM(CONFIGS["flow_tiny"]).prepare(torch.from_numpy(np.stack(noisy(truth))))[0].numpy()
    for n in range(7):  # the temporal average beats the prefiltered frame alone
        assert psnr(got[n], truth[n]) > psnr(single[n], truth[n]) + 1.0, n
    # the same bytes in any order of requests
    order = list(range(7))
    random.Random(0).shuffle(order)
    trained = core.vsinr.Denoise(clip, method="zsm", weights=str(flow_weights(tmp_path)))
    first = frames(trained)
    shuffled = {n: np.stack([np.asarray(trained.get_frame(n)[p]) for p in range(3)]) for n in order}
    assert all(np.array_equal(shuffled[n], first[n]) for n in range(7))


def test_denoise_never_uses_frames_across_a_marked_scene_change(tmp_path: Path) -> None:
    shot_a, shot_b = noisy(sliding(4), seed=1), noisy([1 - f for f in sliding(4)], seed=2)
    path = str(flow_weights(tmp_path))
    alone = frames(core.vsinr.Denoise(media.clip_from_arrays(shot_a, Fraction(24), vs.RGBS), method="zsm", weights=path))
    both = media.clip_from_arrays(shot_a + shot_b, Fraction(24), vs.RGBS)
    marked = both[:3] + both[3].std.SetFrameProps(_SceneChangeNext=1) + both[4:]
    got = frames(core.vsinr.Denoise(marked, method="zsm", weights=path))
    assert all(np.array_equal(got[n], alone[n]) for n in range(4))
    unmarked = frames(core.vsinr.Denoise(both, method="zsm", weights=path))
    assert not np.array_equal(unmarked[3], alone[3])


def test_flow_weights_serve_their_own_task(tmp_path: Path) -> None:
    clip = media.clip_from_arrays(noisy(sliding(4)), Fraction(24), vs.RGBS)
    path, x4 = str(flow_weights(tmp_path)), str(flow_weights(tmp_path, config="flow_x4_tiny"))
    assert "STVSR needs a ×4 ×2 model" in error_of(lambda: core.vsinr.STVSR(clip, 4, 2, method="zsm", weights=path))
    assert "Denoise needs a ×1 restoration model" in error_of(lambda: core.vsinr.Denoise(clip, method="zsm", weights=x4))
    assert "leave window at 0" in error_of(lambda: core.vsinr.Denoise(clip, method="zsm", weights=path, window=4))


def x4_input(truth: list[np.ndarray]) -> vs.VideoNode:
    """Every other frame of ``truth``, made 4 times smaller as the evaluation does."""
    return media.clip_from_arrays([degrade.imresize(f, 0.25) for f in truth[::2]], Fraction(12), vs.RGBS)


def test_x4_model_moves_halfway_frames_along_the_motion(tmp_path: Path) -> None:
    truth = sliding(9, shift=4, height=128, width=192)
    clip = x4_input(truth)
    out = core.vsinr.STVSR(clip, 4, 2, method="zsm", weights=str(flow_weights(tmp_path, trained=False, config="flow_x4")))
    assert (out.width, out.height, out.num_frames, out.fps) == (192, 128, 10, Fraction(24))
    got = frames(out)
    blended = frames(core.vsinr.STVSR(clip, 4, 2, method="classic", motion="blend"))
    for k in (1, 3, 5):  # the untrained model is its base: halfway frames moved along the flow
        assert psnr(got[k], truth[k]) > psnr(blended[k], truth[k]) + 3, k
    for k in (0, 2, 4, 6):  # source instants: the source frames (bicubic, where classic has Spline36)
        assert psnr(got[k], truth[k]) > psnr(blended[k], truth[k]) - 1.5, k
    # the last output, past the last source frame, holds it
    assert np.array_equal(got[9], got[8])


def test_x4_frames_are_the_same_in_any_order_and_never_cross_a_scene_change(tmp_path: Path) -> None:
    path = str(flow_weights(tmp_path, config="flow_x4_tiny"))
    shot_a = [degrade.imresize(f, 0.25) for f in sliding(4, height=96, width=128)]
    shot_b = [1 - f for f in shot_a]
    marked = media.clip_from_arrays(shot_a + shot_b, Fraction(24), vs.RGBS)
    marked = marked[:3] + marked[3].std.SetFrameProps(_SceneChangeNext=1) + marked[4:]
    out = core.vsinr.STVSR(marked, 4, 2, method="zsm", weights=path)
    first = frames(out)
    order = list(range(out.num_frames))
    random.Random(0).shuffle(order)
    shuffled = {n: np.stack([np.asarray(out.get_frame(n)[p]) for p in range(3)]) for n in order}
    assert all(np.array_equal(shuffled[n], first[n]) for n in range(out.num_frames))
    alone = frames(core.vsinr.STVSR(media.clip_from_arrays(shot_a, Fraction(24), vs.RGBS), 4, 2, method="zsm",
                                    weights=path))
    assert all(np.array_equal(first[n], alone[n]) for n in range(7))
    assert np.array_equal(first[7], first[6])  # halfway across the cut: the left frame


def test_a_header_of_another_kind_is_refused(tmp_path: Path) -> None:
    model = FlowZSM(CONFIGS["flow_tiny"])
    path = tmp_path / "odd.safetensors"
    weights.save(path, model.state_dict(), "zsm", {**model.config, "nf": 9}, half=False)
    with pytest.raises(weights.WeightsError, match="does not fit this model"):
        zsm_engine.load_model(path, "denoise", "noise")
    weights.save(path, model.state_dict(), "zsm", {**model.config, "prefilter": "evil"}, half=False)
    with pytest.raises(weights.WeightsError, match="prefilter must be one of"):
        zsm_engine.load_model(path, "denoise", "noise")


@pytest.mark.heavy
@pytest.mark.parametrize("task,config", [("denoise", "flow_tiny"), ("stvsr", "flow_x4_tiny")])
def test_training_exports_and_keeps_the_better_file(tmp_path: Path, task: str, config: str) -> None:
    videos, photos = training_material(tmp_path)
    export = tmp_path / "w.safetensors"
    args = ["vsinr", "train", "zsm-flow", "--videos", str(videos), "--photos", str(photos),
            "--run", str(tmp_path / "run"), "--task", task, "--degradation", "noise", "--config", config, "--steps", "6",
            "--batch", "2", "--patch", "24" if task == "denoise" else "12", "--threads", "1", "--export", str(export)]
    result = run(args)
    assert result.returncode == 0, result.stderr.decode()
    assert export.is_file() and "wrote" in result.stderr.decode()
    assert zsm_engine.load_model(export, task, "noise").config["kind"] == "flow"
    again = run(args)  # finished run: nothing to train, and the file there is as good, so it is kept
    assert again.returncode == 0, again.stderr.decode()
    assert "kept" in again.stderr.decode()


def test_a_broken_pixel_stays_local_and_tiny_frames_work(tmp_path: Path) -> None:
    truth = sliding(5)
    path = str(flow_weights(tmp_path))
    clean = frames(core.vsinr.Denoise(media.clip_from_arrays(noisy(truth), Fraction(24), vs.RGBS), method="zsm",
                                      weights=path))
    broken = noisy(truth)
    broken[2][:, 10, 20] = np.nan
    got = frames(core.vsinr.Denoise(media.clip_from_arrays(broken, Fraction(24), vs.RGBS), method="zsm", weights=path))
    assert all(np.isfinite(f).all() for f in got)
    far = np.ones((48, 64), bool)
    far[:26, 4:37] = False  # the network's reach around the pixel
    # elsewhere only the flow moves a little (DIS sees the pixel too)
    assert max(np.abs(g - c)[:, far].max() for g, c in zip(got, clean, strict=True)) < 0.01
    tiny = media.clip_from_arrays([f[:, :9, :7] for f in noisy(truth)], Fraction(24), vs.RGBS)
    assert all(np.isfinite(f).all() for f in frames(core.vsinr.Denoise(tiny, method="zsm", weights=path)))
