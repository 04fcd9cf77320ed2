"""VideoINR's flow-guided temporal network (``plugins/vsinr_videoinr/interp.py``): its untrained form is
exactly ``classic``'s frame, trained residuals change only the in-between frames, and its weights serve
``Interpolate`` through the videoinr engine."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs
from conftest import frames
from test_classic import sliding
from vsinr_videoinr.interp import CONFIGS, FlowInterp

from vsinr.io import media
from vsinr.ops import flow
from vsinr.runtime import weights

core = vs.core


def interp_weights(path: Path, trained: bool) -> Path:
    torch.manual_seed(0)
    model = FlowInterp(CONFIGS["interp_tiny"])
    if trained:  # a non-zero residual, so the network's part shows
        with torch.no_grad():
            model.tail.weight.normal_(0, 0.05)
    weights.save(path, model.state_dict(), "videoinr", model.config, half=False)
    return path


def test_untrained_network_is_exactly_the_motion_compensated_blend() -> None:
    a = torch.rand(1, 3, 24, 40, generator=torch.Generator().manual_seed(1))
    b = torch.roll(a, 3, dims=-1)
    f01, f10 = flow.pair(a[0], b[0])
    model = FlowInterp(CONFIGS["interp_tiny"])
    for train in (False, True):  # the shortcut of an untrained model, and the network's own path
        model.train(train)
        for t in (0.125, 0.3, 0.5, 0.875):
            with torch.no_grad():
                got = model(a, b, f01, f10, torch.tensor([t], dtype=torch.float64))
            assert torch.equal(got, flow.between(a, b, f01, f10, t))


def test_interpolate_serves_the_network_and_keeps_source_frames(tmp_path: Path) -> None:
    clip = media.clip_from_arrays(sliding(3), Fraction(12), vs.RGBS)
    classic = frames(core.vsinr.Interpolate(clip, 4, method="classic"))
    untrained = frames(core.vsinr.Interpolate(clip, 4, method="videoinr",
                                              weights=str(interp_weights(tmp_path / "u.safetensors", False))))
    assert all(np.array_equal(c, u) for c, u in zip(classic, untrained, strict=True))
    trained = frames(core.vsinr.Interpolate(clip, 4, method="videoinr",
                                            weights=str(interp_weights(tmp_path / "t.safetensors", True))))
    assert all(np.array_equal(trained[k], classic[k]) for k in (0, 4, 8))  # source frames stay exact
    assert all(not np.array_equal(trained[k], classic[k]) for k in (1, 2, 3, 5))
