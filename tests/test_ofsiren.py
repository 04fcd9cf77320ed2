"""OF-SIREN: the forward-mode flow term, what the flow term buys, the flow estimator, the fitted-chunk
machinery (cache, chunk blending, scene cuts) and bad input. Tiny settings: seconds on 2 CPU cores."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs
from conftest import frames, noise_clip
from vsinr_ofsiren import engine as E
from vsinr_ofsiren.siren import Siren

from vsinr.io import media
from vsinr.ops.flow import between, flow, pairs, to_gray8
from vsinr.serving.timing import Chunks, TimeMap

pytestmark = pytest.mark.slow  # fits representations to clips

core = vs.core
TINY = dict(steps=30, chunk=5, overlap=2)


def moving_pattern(length: int, size: int = 40, speed: tuple[float, float] = (1.5, 0.5)) -> torch.Tensor:
    """(T, 3, size, size) smooth colour waves translating by ``speed`` pixels per frame."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    out = []
    for t in range(length):
        x, y = xx - speed[0] * t, yy - speed[1] * t
        r = 0.5 + 0.2 * torch.sin(0.35 * x + 0.1 * y) + 0.15 * torch.sin(0.3 * y - 0.12 * x + 1)
        out.append(torch.stack([r, 0.8 - 0.5 * r, 0.3 + 0.4 * r]))
    return torch.stack(out)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return -10 * math.log10(float(((a - b) ** 2).mean()))


def test_forward_mode_flow_term_equals_reverse_mode_per_channel() -> None:
    torch.manual_seed(0)
    net = Siren(width=32, layers=4, omega=25.0, count=2)
    x = torch.rand(2, 50, 3) * 2 - 1
    d = torch.randn(2, 50, 3)
    _, jd = net(x, d)
    xr = x.clone().requires_grad_(True)
    y, _ = net(xr)
    reverse = torch.stack([
        (torch.autograd.grad(y[..., c].sum(), xr, retain_graph=True)[0] * d).sum(-1) for c in range(3)
    ], -1)
    assert jd is not None
    torch.testing.assert_close(jd, reverse, rtol=1e-4, atol=1e-4)
    # and its parameter gradients agree with the double-backward route
    loss_forward = jd.abs().mean()
    grads_forward = torch.autograd.grad(loss_forward, list(net.weights))
    y, _ = net(xr)
    reverse = torch.stack([
        (torch.autograd.grad(y[..., c].sum(), xr, create_graph=True)[0] * d).sum(-1) for c in range(3)
    ], -1)
    grads_reverse = torch.autograd.grad(reverse.abs().mean(), list(net.weights))
    for a, b in zip(grads_forward, grads_reverse, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.heavy
@pytest.mark.parametrize("base", ["linear", "none"])
def test_flow_term_interpolates_a_moving_pattern_better(base: str) -> None:
    truth = moving_pattern(9)
    observed = truth[0::2]
    settings = replace(E.PRESETS["fast"], steps=300, batch=2048, patch=24, margin=4, base=base)

    def odd_psnr(lam: float) -> float:
        state, config = E.fit(observed, replace(settings, lam=lam), "cpu", seed=1)
        net = E.network(state, config, "cpu")
        chunk = E.Chunk(observed, torch.device("cpu"), config["base"])
        out = torch.empty(3, 40, 40)
        scores = []
        for i in range(len(observed) - 1):
            E.render(net, config, chunk, i + 0.5, out)
            scores.append(psnr(out, truth[2 * i + 1]))
        return float(np.mean(scores))

    without, with_flow = odd_psnr(0.0), odd_psnr(0.05)
    blend = np.mean([psnr((observed[i] + observed[i + 1]) / 2, truth[2 * i + 1]) for i in range(len(observed) - 1)])
    assert with_flow > without + 3, (without, with_flow)
    assert with_flow > blend + 3, (blend, with_flow)


def test_warp_base_is_the_frames_at_observed_times_and_follows_the_motion_between() -> None:
    truth = moving_pattern(9)
    observed = truth[0::2]
    chunk = E.Chunk(observed, torch.device("cpu"), "warp")
    for k in range(len(observed)):
        assert torch.allclose((chunk.level(float(k)) + 1) / 2, observed[k], atol=1e-6)
    warped = np.mean([psnr(((chunk.level(i + 0.5) + 1) / 2).clamp(0, 1), truth[2 * i + 1]) for i in range(len(observed) - 1)])
    blend = np.mean([psnr((observed[i] + observed[i + 1]) / 2, truth[2 * i + 1]) for i in range(len(observed) - 1)])
    assert warped > blend + 3, (blend, warped)
    # the whole-frame warp SNeRV-T starts from (vsinr.ops.flow.between) is this very base
    forward, backward = pairs(observed)
    for i, s in ((0, 0.5), (2, 0.25)):
        frame = between(observed[i : i + 1], observed[i + 1 : i + 2], forward[i : i + 1], backward[i : i + 1], s)
        assert torch.allclose(frame[0], (chunk.level(i + s) + 1) / 2, atol=1e-5)
    # its change along its own motion is small next to the change of the blend along the same motion
    y, x = (torch.randint(8, 32, (500,)) for _ in range(2))
    tau = torch.rand(500) * (len(observed) - 1)
    _, change, _, _ = chunk.base(tau, y, x)
    _, blend_change, _, _ = E.Chunk(observed, torch.device("cpu"), "linear").base(tau, y, x)
    assert change.abs().mean() < 0.5 * blend_change.abs().mean()


def test_flow_end_point_error_on_the_middlebury_motorcycle_pair() -> None:
    import cv2
    from skimage import data

    left, right, disparity = data.stereo_motorcycle()

    def quarter(image: np.ndarray, how: int) -> np.ndarray:
        return cv2.resize(image, (image.shape[1] // 4, image.shape[0] // 4), interpolation=how)

    a, b = (to_gray8(quarter(im, cv2.INTER_AREA).astype(np.float32) / 255) for im in (left, right))
    truth = quarter(disparity, cv2.INTER_NEAREST) / 4
    valid = np.isfinite(truth)
    estimate = flow(a, b)
    error = np.hypot(estimate[..., 0] + truth, estimate[..., 1])[valid].mean()
    assert error <= 1.2, error


def test_flow_of_frames_smaller_than_dis_takes() -> None:
    rng = np.random.default_rng(0)
    for height, width in ((1, 1), (5, 30), (12, 3), (15, 15)):
        a = (rng.random((height, width)) * 255).astype(np.uint8)
        estimate = flow(a, a)
        assert estimate.shape == (height, width, 2) and np.abs(estimate).max() < 0.5


def test_chunk_weights_are_a_smooth_partition() -> None:
    chunks = Chunks(TimeMap(30, Fraction(1), Fraction(1)), 8, 5)  # overlap 3
    assert [chunks.chunk(c) for c in range(chunks.count)] == [range(0, 8), range(5, 13), range(10, 18),
                                                              range(15, 23), range(20, 28), range(22, 30)]
    taus = np.arange(0, 29, 0.01)
    weights = [dict(chunks.weights(float(t))) for t in taus]
    assert all(abs(sum(w.values()) - 1) < 1e-12 for w in weights)
    for c in range(chunks.count):  # each chunk's weight is continuous and only where it has frames
        series = np.array([w.get(c, 0.0) for w in weights])
        assert np.abs(np.diff(series)).max() < 0.02
        inside = series > 0
        assert taus[inside].min() >= chunks.chunk(c).start and taus[inside].max() <= chunks.chunk(c).stop - 1
    assert chunks.sources(2) == list(range(5, 18))  # chunk 1 (blended into segment 2) and chunk 2


@pytest.mark.heavy
def test_fitted_filter_keeps_observed_frames_and_has_no_seams(tmp_path: Path) -> None:
    truth = moving_pattern(17, size=24, speed=(0.6, 0.2))
    clip = media.clip_from_arrays([f.numpy() for f in truth[0::2]], Fraction(12), vs.RGBS)
    out = frames(core.vsinr.Interpolate(clip, 2, method="ofsiren", cache=str(tmp_path), **TINY))
    assert len(out) == 18
    for i, f in enumerate(truth[0::2]):
        assert np.array_equal(out[2 * i], f.numpy())
    # chunks 0-4, 3-7, 4-8 blend: no interpolated frame is much further from the truth than the others
    errors = [np.abs(out[2 * i + 1] - truth[2 * i + 1].numpy()).mean() for i in range(8)]
    assert max(errors) < 2 * np.median(errors) + 1e-3, errors


def _log(messages: list[str]) -> object:
    return core.add_log_handler(lambda level, text: messages.append(text))


@pytest.mark.heavy
def test_second_run_reads_the_cache_and_damage_is_refitted(tmp_path: Path) -> None:
    clip = noise_clip(24, 16, 4)
    messages: list[str] = []
    handle = _log(messages)
    try:
        first = frames(core.vsinr.Interpolate(clip, 2, method="ofsiren", cache=str(tmp_path), **TINY))
        fits = [m for m in messages if "fitting frames" in m and "step" not in m]
        assert len(fits) == 1
        files = list(tmp_path.glob("ofsiren-*.safetensors"))
        assert len(files) == 1 and not list(tmp_path.glob(".*part"))
        media_files_before = {p: p.stat().st_mtime_ns for p in files}
        messages.clear()
        # a new filter (as a second run of the script would make) in a fresh in-memory store
        from vsinr.runtime import fitting

        fitting._stores.clear()
        second = frames(core.vsinr.Interpolate(clip, 2, method="ofsiren", cache=str(tmp_path), **TINY))
        assert not [m for m in messages if "fitting frames" in m]
        assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
        assert {p: p.stat().st_mtime_ns for p in files} == media_files_before
        # a different setting is a different fit
        messages.clear()
        frames(core.vsinr.Interpolate(clip, 2, method="ofsiren", cache=str(tmp_path), steps=31, chunk=5))
        assert [m for m in messages if "fitting frames" in m]
        # a damaged cache file is reported and fitted again, not trusted
        files[0].write_bytes(b"not a safetensors file")
        fitting._stores.clear()
        messages.clear()
        third = frames(core.vsinr.Interpolate(clip, 2, method="ofsiren", cache=str(tmp_path), **TINY))
        assert any("damaged cache file" in m for m in messages)
        assert all(np.array_equal(a, b) for a, b in zip(first, third, strict=True))
    finally:
        core.remove_log_handler(handle)


def test_scene_cut_splits_the_chunk(tmp_path: Path) -> None:
    src = noise_clip(24, 16, 5)
    cut = src[:2] + core.std.SetFrameProps(src[2], _SceneChangeNext=1) + src[3:]
    messages: list[str] = []
    handle = _log(messages)
    try:
        out = frames(core.vsinr.Interpolate(cut, 2, method="ofsiren", cache="off", steps=20, chunk=5))
    finally:
        core.remove_log_handler(handle)
    fitted = sorted(m.split("fitting frames ")[1].split(" ")[0] for m in messages if "fitting frames" in m and "step" not in m)
    assert fitted == ["0-2", "3-4"]
    assert np.array_equal(out[5], frames(src)[2])  # across the cut: the left frame, unblended


def test_static_clip_stays_static() -> None:
    still = np.full((3, 16, 24), 0.4, np.float32)
    still[:, 4:10, 6:14] = 0.8
    clip = media.clip_from_arrays([still] * 4, Fraction(24), vs.RGBS)
    out = frames(core.vsinr.Interpolate(clip, 3, method="ofsiren", cache="off", steps=30, chunk=4))
    assert max(np.abs(f - still).max() for f in out) < 0.02


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(vs.Error, match="Interpolate.*at least 2 frames"):
        core.vsinr.Interpolate(noise_clip(length=1), 2, method="ofsiren")
    with pytest.raises(vs.Error, match="overlap=5 must be from 0 to chunk-1"):
        core.vsinr.Interpolate(noise_clip(), 2, method="ofsiren", chunk=5, overlap=5)
    data = [np.full((3, 16, 24), 0.5, np.float32) for _ in range(4)]
    data[1][0, 3, 3] = np.nan
    broken = media.clip_from_arrays(data, Fraction(24), vs.RGBS)
    # the host reads a non-finite pixel as black, so the fit never sees NaN and no output frame is NaN
    out = core.vsinr.Interpolate(broken, 2, method="ofsiren", cache="off", steps=5, chunk=4)
    assert all(np.isfinite(f).all() for f in frames(out))


def test_nan_during_fitting_stops_the_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Siren.forward

    def poisoned(self: Siren, x: torch.Tensor, d: torch.Tensor | None = None):  # type: ignore[no-untyped-def]
        y, dy = original(self, x, d)
        return y * float("nan"), dy

    monkeypatch.setattr(Siren, "forward", poisoned)
    with pytest.raises(E.FitError, match=r"diverged \(the loss became nan at step 1 of 5\)"):
        E.fit(moving_pattern(3, size=16), replace(E.PRESETS["fast"], steps=5, batch=256), "cpu", seed=0)


@pytest.mark.heavy
def test_vsinr_fit_prepares_a_script_so_playback_fits_nothing(tmp_path: Path) -> None:
    from conftest import run

    script = tmp_path / "fitted.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "from vsinr.io import media\n"
        "import numpy as np\n"
        "frames = [np.full((3, 12, 16), i / 10, np.float32) for i in range(7)]\n"
        f"clip = media.clip_from_arrays(frames, 24)\n"
        f"vs.core.vsinr.Interpolate(clip, 2, method='ofsiren', cache={str(tmp_path / 'cache')!r}, "
        "steps=20, chunk=5, overlap=2).set_output()\n"
    )
    prepared = run(["vsinr", "fit", str(script)])
    assert prepared.returncode == 0, prepared.stderr.decode()[-2000:]
    assert b"14 frames prepared" in prepared.stderr
    fits = sorted((tmp_path / "cache").glob("ofsiren-*"))
    assert len(fits) == 2  # both chunks, fitted once each, and no checkpoint left behind
    written = [(f.stat().st_ino, f.stat().st_mtime_ns) for f in fits]
    played = run(["vspipe", str(script), "-"])
    assert played.returncode == 0, played.stderr.decode()[-2000:]
    assert len(played.stdout) == 14 * 3 * 12 * 16 * 4  # every RGBS frame
    assert [(f.stat().st_ino, f.stat().st_mtime_ns) for f in fits] == written  # nothing was fitted again
    assert sorted((tmp_path / "cache").glob("ofsiren-*")) == fits


def test_a_cache_that_is_a_file_is_refused_when_the_filter_is_made(tmp_path: Path) -> None:
    from conftest import error_of

    taken = tmp_path / "not-a-folder"
    taken.write_text("x")
    message = error_of(lambda: core.vsinr.Interpolate(noise_clip(), 2, method="ofsiren", cache=str(taken), **TINY))
    assert "is a file; give a folder" in message and taken.read_text() == "x"
