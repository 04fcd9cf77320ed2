"""VideoINR's flow-guided configuration: its base, its any-scale decoder, the engine and the training script.

Tiny configurations with random weights; quality is measured by ``vsinr bench`` and in the model card.
"""

from __future__ import annotations

import dataclasses
import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import vapoursynth as vs
from conftest import frames, run, training_material
from test_classic import sliding
from vsinr_videoinr import engine as videoinr_engine
from vsinr_videoinr.flowinr import CONFIGS, FlowINR

from vsinr.io import media
from vsinr.ops import flow
from vsinr.runtime import weights

core = vs.core
_count = itertools.count()


def flow_weights(directory: Path, trained: bool = True, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = FlowINR(CONFIGS["flow_tiny"])
    if trained:  # a non-zero correction, so the network's part shows
        with torch.no_grad():
            model.decoder[-1].weight.normal_(0, 0.05)
    path = directory / f"flow{next(_count)}.safetensors"
    weights.save(path, model.state_dict(), "videoinr", model.config, half=False)
    return path


def test_untrained_model_is_its_base_at_any_scale() -> None:
    model = FlowINR(CONFIGS["flow_tiny"])
    a, b = torch.rand(2, 1, 3, 12, 16)
    t = torch.tensor([0.25])
    for size in ((48, 64), (30, 40), (12, 16)):
        out = model(a, b, t, size)
        base = F.interpolate(torch.lerp(a, b, 0.25), size=size, mode="bicubic", align_corners=False)
        interior = (..., slice(4, -4), slice(4, -4))  # grid_sample and interpolate clamp edges differently
        torch.testing.assert_close(out[interior], base[interior], atol=1e-5, rtol=0)


def test_decoding_in_bands_equals_one_pass() -> None:
    torch.manual_seed(0)
    model = FlowINR(CONFIGS["flow_tiny"])
    torch.nn.init.normal_(model.decoder[-1].weight, 0, 0.1)
    a, b = torch.rand(2, 1, 3, 10, 14)
    t = torch.tensor([0.5])
    feat = model.encode(a, b, t)
    whole = model.decode(feat, a, b, t, (37, 50))
    torch.testing.assert_close(model.decode(feat, a, b, t, (37, 50), rows=8), whole, atol=1e-6, rtol=0)


def test_the_filter_runs_the_flow_configuration(tmp_path: Path) -> None:
    truth = sliding(5)
    clip = media.clip_from_arrays(truth[::2], Fraction(12), vs.RGBS)
    path = str(flow_weights(tmp_path, trained=False))
    out = core.vsinr.STVSR(clip, 2, 2, method="videoinr", weights=path)
    got = frames(out)
    assert (out.width, out.height, out.num_frames) == (128, 96, 6)
    # untrained, the middle frame is the flow-moved blend at the source size, then bicubic
    left, right = torch.from_numpy(truth[0]), torch.from_numpy(truth[2])
    f01, f10 = flow.pair(left, right)
    middle = F.interpolate(flow.between(left[None], right[None], f01, f10, 0.5), size=(96, 128), mode="bicubic",
                           align_corners=False)[0].clamp(0, 1).numpy()
    np.testing.assert_allclose(got[1][:, 4:-4, 4:-4], middle[:, 4:-4, 4:-4], atol=1e-4)
    # at the source size, source instants are the source frames
    same = frames(core.vsinr.Interpolate(clip, 2, method="videoinr", weights=str(flow_weights(tmp_path))))
    assert np.array_equal(same[0], truth[0]) and np.array_equal(same[2], truth[2])


def test_a_header_of_another_kind_is_refused(tmp_path: Path) -> None:
    model = FlowINR(CONFIGS["flow_tiny"])
    path = tmp_path / "odd.safetensors"
    weights.save(path, model.state_dict(), "videoinr", {**model.config, "kind": "flow", "nf": 9}, half=False)
    with pytest.raises(weights.WeightsError, match="does not fit this model"):
        videoinr_engine.load_model(path)


@pytest.mark.heavy
def test_training_exports_and_keeps_the_better_file(tmp_path: Path) -> None:
    videos, photos = training_material(tmp_path)
    export = tmp_path / "w.safetensors"
    args = ["vsinr", "train", "videoinr-flow", "--videos", str(videos), "--photos", str(photos),
            "--run", str(tmp_path / "run"), "--config", "flow_tiny", "--steps", "6", "--batch", "2", "--patch", "24",
            "--threads", "1", "--export", str(export)]
    result = run(args)
    assert result.returncode == 0, result.stderr.decode()
    assert export.is_file() and "wrote" in result.stderr.decode()
    assert videoinr_engine.load_model(export).config["kind"] == "flow"
    again = run(args)  # finished run: nothing to train, and the file there is as good, so it is kept
    assert again.returncode == 0, again.stderr.decode()
    assert "kept" in again.stderr.decode()


def test_outside_its_trained_scales_the_model_gives_its_base() -> None:
    torch.manual_seed(0)
    model = FlowINR(dataclasses.replace(CONFIGS["flow_tiny"], scales=(1.5, 4.0)))
    torch.nn.init.normal_(model.decoder[-1].weight, 0, 0.1)
    base = FlowINR(dataclasses.replace(CONFIGS["flow_tiny"], scales=(1.5, 4.0)))  # untrained: the base everywhere
    a, b = torch.rand(2, 1, 3, 12, 16)
    t = torch.tensor([0.5])
    for size, inside in (((12, 16), False), ((24, 32), True), ((48, 64), True), ((96, 128), False)):
        same = torch.allclose(model(a, b, t, size), base(a, b, t, size), atol=1e-6)
        assert same != inside, size
    # at the source size the base is the blend itself (bicubic at pixel centres is the identity)
    torch.testing.assert_close(model(a, b, t, (12, 16)), torch.lerp(a, b, 0.5), atol=1e-5, rtol=0)
