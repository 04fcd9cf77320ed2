"""The zsm method: windowing that covers every frame, request-order independence, ×1 restoration, weights
and errors. A tiny configuration with random weights keeps this fast; quality is measured by
``vsinr bench`` and reported in the model card."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs
from conftest import error_of, frames, noise_clip, run
from vsinr_zsm import engine as zsm_engine
from vsinr_zsm.flowzsm import FlowZSM

from vsinr.io import media
from vsinr.nn.zsm import CONFIGS, ZoomingSlowMo
from vsinr.runtime import weights

core = vs.core
_count = itertools.count()


def tiny_weights(directory: Path, task: str = "stvsr", seed: int = 0) -> Path:
    """A tiny residual model with every layer random (the last one too, so the network's part shows)."""
    torch.manual_seed(seed)
    scale, interpolate = (4, True) if task == "stvsr" else (1, False)
    model = ZoomingSlowMo(**CONFIGS["tiny"], scale=scale, interpolate=interpolate, residual=True)
    with torch.no_grad():
        model.conv_last.weight.normal_(0, 0.05)
        for name, p in model.named_parameters():
            if "conv_offset_mask" in name:
                p.normal_(0, 0.05)  # real offsets, so the deformable path is exercised
    path = directory / f"zsm_tiny{next(_count)}.safetensors"  # engines are shared per path
    weights.save(path, model.state_dict(), "zsm", model.config, half=False)
    return path



def expected_stvsr(path: Path, clip_frames: list[np.ndarray]) -> list[np.ndarray]:
    """Every output by the documented rule, computed here: output k comes from window j = ⌊(k/2)/3⌋ (the
    last window takes the rest), starting at 3j but never past N-4; frames past the clip repeat the last
    one. The model runs once per window, as the filter's engine does."""
    n = len(clip_frames)
    count = max(1, -(-(n - 4) // 3) + 1)
    model = zsm_engine.load_model(path, "stvsr", "clean")
    windows: dict[int, torch.Tensor] = {}
    expected = []
    for k in range(2 * n):
        time = min(k / 2, n - 1)
        j = min(int(time // 3), count - 1)
        start = max(0, min(3 * j, n - 4))
        if start not in windows:
            window = [clip_frames[min(start + i, n - 1)] for i in range(4)]
            with torch.inference_mode():
                windows[start] = model(torch.from_numpy(np.stack(window)).unsqueeze(0))[0]
        expected.append(windows[start][round(2 * (time - start))].clamp(0, 1).numpy())
    return expected


# Window size 4, step 3: 2 frames (shorter than a window: the last frame repeats), 4 (one window, exactly),
# 5 (two, the last moved back to end on the last frame), 7 (two, the last ending there as it is) and
# 8 (three: a middle window, the last moved back) take every branch of the rule; 3, 6 and 9 repeat them.
@pytest.mark.parametrize("n", [2, 4, 5, 7, 8])
def test_windows_cover_every_frame_in_any_order(tmp_path: Path, n: int) -> None:
    path = tiny_weights(tmp_path)
    clip = noise_clip(16, 12, n)
    out = core.vsinr.STVSR(clip, 4, 2, method="zsm", weights=str(path))
    assert (out.num_frames, out.width, out.height) == (2 * n, 64, 48)
    assert out.fps == clip.fps * 2
    order = list(range(out.num_frames))
    random.Random(n).shuffle(order)
    shuffled = {k: np.asarray(out.get_frame(k)[0]).copy() for k in order}  # fresh instance per clip
    again = frames(core.vsinr.STVSR(clip, 4, 2, method="zsm", weights=str(path)))
    expected = expected_stvsr(path, frames(clip))
    for k in range(out.num_frames):
        assert np.array_equal(shuffled[k], again[k][0]), k
        np.testing.assert_allclose(again[k], expected[k], atol=2e-5, err_msg=f"frame {k}")


def test_untrained_residual_model_is_bicubic_and_blend() -> None:
    torch.manual_seed(0)
    model = ZoomingSlowMo(**CONFIGS["tiny"], residual=True).eval()
    x = torch.rand(1, 3, 3, 8, 12)
    with torch.inference_mode():
        out = model(x)
    up = torch.nn.functional.interpolate(x[0], scale_factor=4, mode="bicubic", align_corners=False)
    torch.testing.assert_close(out[0, 0::2], up)
    torch.testing.assert_close(out[0, 1::2], (up[:-1] + up[1:]) / 2)


def test_sizes_not_divisible_by_four(tmp_path: Path) -> None:
    path = tiny_weights(tmp_path)
    out = core.vsinr.STVSR(noise_clip(18, 10, 3), 4, 2, method="zsm", weights=str(path))
    got = frames(out)
    assert len(got) == 6 and got[0].shape == (3, 40, 72) and all(np.isfinite(f).all() for f in got)


def test_denoise_keeps_size_rate_and_frame_count(tmp_path: Path) -> None:
    path = tiny_weights(tmp_path, "denoise")
    clip = noise_clip(20, 14, 7)
    for degradation in ("noise", "jpeg"):
        out = core.vsinr.Denoise(clip, method="zsm", degradation=degradation, weights=str(path))
        assert (out.num_frames, out.width, out.height, out.fps) == (7, 20, 14, clip.fps)
        got = frames(out)
        assert all(f.shape == (3, 14, 20) and np.isfinite(f).all() for f in got)
        # each output is its own frame restored, not a neighbour's
        source = frames(clip)
        for k in range(7):
            assert np.abs(got[k] - source[k]).mean() < np.abs(got[k] - source[(k + 1) % 7]).mean()


def test_weights_of_the_wrong_kind_and_official_checkpoints(tmp_path: Path) -> None:
    x1 = tiny_weights(tmp_path, "denoise")
    x4 = tiny_weights(tmp_path, "stvsr")
    clip = noise_clip(16, 12, 4)
    assert "needs a ×4 ×2 model" in error_of(lambda: core.vsinr.STVSR(clip, 4, 2, method="zsm", weights=str(x1)))
    assert "×1 restoration model" in error_of(lambda: core.vsinr.Denoise(clip, method="zsm", weights=str(x4)))
    # the authors' checkpoint: a bare state_dict of the released configuration
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in ZoomingSlowMo(**CONFIGS["released"]).state_dict().items()}
    official = tmp_path / "xiang2020zooming.pth"
    torch.save({k: torch.full(s, 0.01) for k, s in shapes.items()}, official)
    model = zsm_engine.load_model(official, "stvsr", "clean")
    assert model.config["nf"] == 64 and not model.residual
    converted = tmp_path / "zsm.safetensors"
    result = run(["vsinr", "weights", "convert", "-m", "zsm", str(official), str(converted)])
    assert result.returncode == 0, result.stderr.decode()
    assert zsm_engine.load_model(converted, "stvsr", "clean").config == model.config
    del shapes["recon_trunk.3.conv1.weight"]
    torch.save({k: torch.full(s, 0.01) for k, s in shapes.items()}, official)
    with pytest.raises(weights.WeightsError, match="recon_trunk.3.conv1.weight"):
        zsm_engine.load_model(official, "stvsr", "clean")


def test_bad_calls_are_clear_errors(tmp_path: Path) -> None:
    path = str(tiny_weights(tmp_path))
    clip = noise_clip(16, 12, 5)
    message = error_of(lambda: core.vsinr.STVSR(clip, 2, 2, method="zsm", weights=path))
    assert "STVSR" in message and "spatial scale 2 is not supported (it does 4)" in message
    assert "time scale 3 is not supported (it does 2)" in error_of(
        lambda: core.vsinr.STVSR(clip, 4, 3, method="zsm", weights=path))
    assert "degradation='blur' is not one of" in error_of(
        lambda: core.vsinr.STVSR(clip, 4, 2, method="zsm", degradation="blur", weights=path))
    assert "leaves nothing to restore" in error_of(
        lambda: core.vsinr.Denoise(clip, method="zsm", degradation="clean"))
    assert "at least 2 frames" in error_of(lambda: core.vsinr.STVSR(clip[:1], 4, 2, method="zsm", weights=path))
    assert "window=1 is out of range" in error_of(
        lambda: core.vsinr.STVSR(clip, 4, 2, method="zsm", window=1, weights=path))
    yuv = core.std.BlankClip(format=vs.YUV420P8, length=4)
    assert "RGBS" in error_of(lambda: core.vsinr.Denoise(yuv, method="zsm"))


def test_median_prefilter_removes_impulses_before_anything_is_learned() -> None:
    torch.manual_seed(0)
    clean = torch.full((1, 4, 3, 12, 16), 0.5)
    noisy = clean.clone()
    noisy[0, :, :, 5, 7] = 1.0  # isolated salt
    noisy[0, :, :, 2, 3] = 0.0  # and pepper
    model = ZoomingSlowMo(**CONFIGS["tiny"], scale=1, interpolate=False, residual=True, prefilter="median3").eval()
    with torch.inference_mode():
        torch.testing.assert_close(model(noisy), clean)
    assert "prefilter" in model.config and model.config["prefilter"] == "median3"


@pytest.mark.parametrize(("task", "degradation"), sorted(zsm_engine.DEFAULTS))
def test_bundled_weights_load_for_their_task(task: str, degradation: str) -> None:
    model = zsm_engine.load_model("", task, degradation)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # the flow-guided configurations, each with a learned (non-zero) correction
    assert isinstance(model, FlowZSM) and model.radius == 2 and model.scale == (4 if task == "stvsr" else 1)
    assert model.prefilter == ("impulse" if degradation == "noise" else "none")
    assert model.tail.weight.abs().max() > 0


def test_a_broken_pixel_never_turns_output_frames_to_nan(tmp_path: Path) -> None:
    from test_videoinr import tiny_weights as videoinr_weights

    data = [np.random.default_rng(n).random((3, 24, 32), dtype=np.float32) for n in range(4)]
    data[1][:, 5, 7] = np.nan
    data[2][0, 9, 9] = np.inf
    clip = media.clip_from_arrays(data, Fraction(24), vs.RGBS)
    for out in (core.vsinr.STVSR(clip, 4, 2, method="zsm", weights=str(tiny_weights(tmp_path))),
                core.vsinr.STVSR(clip, 2, 2, method="videoinr", weights=str(videoinr_weights(tmp_path)))):
        assert all(np.isfinite(f).all() for f in frames(out))
