"""The videoinr method: weights (ours, official, broken), the filter's sizes, rates, tiling, caching and errors.

A tiny configuration with random weights keeps this fast; behaviour, not quality, is checked here
(quality is measured by ``vsinr bench`` and reported in the model card).
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs
from conftest import error_of, frames, noise_clip, planes, run
from vsinr_videoinr import engine as videoinr_engine
from vsinr_videoinr.arch import CONFIGS, VideoINR

from vsinr.nn.zsm import ZoomingSlowMo
from vsinr.runtime import weights

core = vs.core
_count = itertools.count()


def tiny_weights(directory: Path, seed: int = 0) -> Path:
    """A tiny model with every layer random (the last layers too, so the network's part shows)."""
    torch.manual_seed(seed)
    model = VideoINR(**CONFIGS["tiny"])
    with torch.no_grad():
        for head in (model.flow_imnet, model.encode_imnet):
            head.net[-1].weight.normal_(0, 0.05)
    # a distinct file per call: engines are shared per weights path within a process
    path = directory / f"tiny{next(_count)}.safetensors"
    weights.save(path, model.state_dict(), "videoinr", model.config, half=False)
    return path



def test_full_configuration_matches_the_release_on_the_meta_device() -> None:
    import json

    official = json.loads((Path(__file__).parent / "data" / "videoinr_state_dict.json").read_text())
    with torch.device("meta"):
        model = VideoINR(**CONFIGS["released"])
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == official


def test_official_checkpoint_loads_and_converts(tmp_path: Path) -> None:
    torch.manual_seed(1)
    reference = VideoINR(**CONFIGS["released"]).state_dict()
    official = tmp_path / "latest_G.pth"
    torch.save(reference, official)  # the authors' format: a bare state_dict
    model = videoinr_engine.load_model(official)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.items())
    assert model.config == CONFIGS["released"]
    # saved from nn.DataParallel: every key prefixed with "module."
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.items()}}, wrapped)
    assert torch.equal(videoinr_engine.load_model(wrapped).conv_first.weight, reference["conv_first.weight"])

    converted = tmp_path / "converted.safetensors"
    result = run(["vsinr", "weights", "convert", str(official), str(converted)])
    assert result.returncode == 0, result.stderr.decode()
    again = videoinr_engine.load_model(converted)
    assert again.config == CONFIGS["released"]
    assert torch.equal(again.state_dict()["recon_trunk.0.conv1.weight"], reference["recon_trunk.0.conv1.weight"])


def test_broken_and_foreign_weights_are_clear_errors(tmp_path: Path) -> None:
    good = tiny_weights(tmp_path)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(weights.WeightsError, match="not a readable safetensors"):
        videoinr_engine.load_model(truncated)

    zsm = tmp_path / "zsm.pth"
    torch.save(ZoomingSlowMo(nf=8, groups=2, front_blocks=1, back_blocks=1).state_dict(), zsm)
    with pytest.raises(weights.WeightsError, match=r"does not fit this model \(\d+ missing: .*wrong shape"):
        videoinr_engine.load_model(zsm)

    half_pth = tmp_path / "half.pth"
    half_pth.write_bytes((tmp_path / "zsm.pth").read_bytes()[:5000])
    with pytest.raises(weights.WeightsError, match="not a readable PyTorch checkpoint"):
        videoinr_engine.load_model(half_pth)

    other = tmp_path / "other.safetensors"
    weights.save(other, {"x": torch.zeros(2)}, "zsm", {})
    with pytest.raises(weights.WeightsError, match="holds weights for 'zsm'"):
        videoinr_engine.load_model(other)

    # through VapourSynth: a clear error naming the function, the method and the file
    message = error_of(lambda: core.vsinr.STVSR(noise_clip(), 2, 2, method="videoinr", weights=str(truncated)))
    assert message.startswith("STVSR: method 'videoinr' failed to load") and "truncated.safetensors" in message
    message = error_of(lambda: core.vsinr.STVSR(noise_clip(), 2, 2, method="videoinr", weights=str(tmp_path / "missing.pth")))
    assert "does not exist" in message
    message = error_of(lambda: core.vsinr.STVSR(noise_clip(), 2, 2, method="videoinr", weights=str(tmp_path)))
    assert "is a folder; give the path of a .safetensors or .pth file" in message

    class Code:  # a pickle that would run code when loaded without weights_only
        def __reduce__(self) -> tuple:
            return (print, ("ran",))

    armed = tmp_path / "armed.pth"
    torch.save({"conv_first.weight": torch.zeros(1), "payload": Code()}, armed)
    with pytest.raises(weights.WeightsError, match="holds Python objects, not only tensors") as info:
        videoinr_engine.load_model(armed)
    assert "False" not in str(info.value)  # no advice to load it unsafely


@pytest.mark.parametrize("sscale, size", [(1.5, (45, 63)), (2.5, (75, 105)), (3.7, (111, 155))])
def test_fractional_scales_any_size(tmp_path: Path, sscale: float, size: tuple[int, int]) -> None:
    src = noise_clip(width=42, height=30, length=3)  # neither side a multiple of 4: padded, then cropped
    out = core.vsinr.STVSR(src, sscale, 3, method="videoinr", weights=str(tiny_weights(tmp_path)))
    assert (out.height, out.width, out.num_frames, out.fps) == (*size, 9, Fraction(72))
    got = frames(out)
    assert all(f.shape == (3, *size) and np.isfinite(f).all() for f in got)
    assert not np.array_equal(got[1], got[2])  # each time is its own frame


def test_exact_rate_and_interpolate_keeps_source_frames(tmp_path: Path) -> None:
    path = str(tiny_weights(tmp_path))
    src = noise_clip(length=5, fpsnum=24000, fpsden=1001)
    out = core.vsinr.STVSR(src, 2, fps_num=60000, fps_den=1001, method="videoinr", weights=path)
    assert out.num_frames == 12 and out.fps == Fraction(60000, 1001)
    assert out.get_frame(7).props["VsinrSourceTime"] == pytest.approx(2.8)
    interp = core.vsinr.Interpolate(src, 2, method="videoinr", weights=path)
    src_frames = frames(src)
    got = frames(interp)
    assert all(np.array_equal(got[2 * i], src_frames[i]) for i in range(5))  # source instants are the sources
    assert not np.array_equal(got[3], src_frames[1]) and not np.array_equal(got[3], src_frames[2])
    assert np.array_equal(got[9], src_frames[4])  # after the last source frame: held


def test_bands_of_rows_equal_one_pass(tmp_path: Path) -> None:
    path = str(tiny_weights(tmp_path))
    model = videoinr_engine.load_model(path)
    pair = torch.rand(1, 2, 3, 20, 24)
    with torch.no_grad():
        feat, inp = model.encode(pair)
        whole = model.decode(feat, inp, 0.3, (50, 60), region=(18, 23))
        banded = model.decode(feat, inp, 0.3, (50, 60), region=(18, 23), rows=7)
    torch.testing.assert_close(banded, whole, atol=1e-6, rtol=0)


def test_each_pair_is_encoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    encode = VideoINR.encode

    def counting(self: VideoINR, pair: torch.Tensor):  # noqa: ANN202
        calls.append(tuple(pair.shape))
        return encode(self, pair)

    monkeypatch.setattr(VideoINR, "encode", counting)
    src = noise_clip(length=4)
    out = core.vsinr.STVSR(src, 2, 8, method="videoinr", weights=str(tiny_weights(tmp_path)))
    order = list(range(out.num_frames))
    np.random.default_rng(0).shuffle(order)
    for k in order:
        out.get_frame(k)
    assert len(calls) == 3  # 3 pairs of 4 frames, 32 output frames (the held tail needs no encoding)


def test_scene_change_holds_the_left_frame_and_props_follow(tmp_path: Path) -> None:
    path = str(tiny_weights(tmp_path))
    src = core.std.SetFrameProps(noise_clip(length=4), Custom=5)
    cut = src[:1] + core.std.SetFrameProps(src[1], _SceneChangeNext=1) + src[2:]
    out = core.vsinr.STVSR(cut, 2, 4, method="videoinr", weights=path)
    got = frames(out)
    for k in (5, 6, 7):
        assert np.array_equal(got[k], got[4])  # the left frame's super-resolution, not a blend
    assert not np.array_equal(got[9], got[8])
    props = out.get_frame(6).props
    assert props["Custom"] == 5 and (props["_DurationNum"], props["_DurationDen"]) == (1, 96)


def test_bad_scales_and_precision(tmp_path: Path) -> None:
    path = str(tiny_weights(tmp_path))
    assert "positive" in error_of(lambda: core.vsinr.STVSR(noise_clip(), 0, 2, method="videoinr", weights=path))
    assert "GiB" in error_of(lambda: core.vsinr.STVSR(noise_clip(), 5000, 2, method="videoinr", weights=path))
    assert "needs a CUDA device" in error_of(lambda: core.vsinr.STVSR(noise_clip(), 2, 2, method="videoinr", weights=path, precision="fp16"))


def test_rgbh_and_planes_roundtrip(tmp_path: Path) -> None:
    src = noise_clip(fmt=vs.RGBH, length=2)
    out = core.vsinr.STVSR(src, 2, 2, method="videoinr", weights=str(tiny_weights(tmp_path)))
    assert out.format.id == vs.RGBH and np.isfinite(planes(out.get_frame(1))).all()


def test_one_engine_serves_every_function_and_scale(tmp_path: Path) -> None:
    from vsinr.runtime import inference

    path = str(tiny_weights(tmp_path))
    src = noise_clip(length=3)

    def engines() -> int:
        return sum(1 for (name, request) in inference._engines if name == "videoinr" and request.weights == path)

    core.vsinr.STVSR(src, 2, 4, method="videoinr", weights=path)
    core.vsinr.STVSR(src, 3, 4, method="videoinr", weights=path)
    core.vsinr.Interpolate(src, 2, method="videoinr", weights=path)
    assert engines() == 1
    core.vsinr.STVSR(src, 2, 2, method="videoinr", weights=str(tiny_weights(tmp_path)))  # other weights: another
    assert len(inference._engines) <= inference.CAPACITY  # bounded


def test_a_forged_configuration_is_refused_before_the_model_is_built(tmp_path: Path) -> None:
    import resource

    good = tiny_weights(tmp_path)
    state, config = weights.read(good, "videoinr")
    assert config is not None
    huge = tmp_path / "huge.safetensors"  # a small file whose header asks for a 97 GiB network
    weights.save(huge, state, "videoinr", {**config, "nf": 4096}, half=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(weights.WeightsError, match="does not fit this model"):
        videoinr_engine.load_model(huge)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: nothing was built

    booleans = tmp_path / "bool.safetensors"  # the right shapes, the wrong kind of numbers
    weights.save(booleans, {k: v > 0 for k, v in state.items()}, "videoinr", config, half=False)
    with pytest.raises(weights.WeightsError, match="of dtype bool .expected floating point."):
        videoinr_engine.load_model(booleans)
