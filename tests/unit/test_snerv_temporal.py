"""SNeRV-T: shapes at any size and time, the facts sheet's decoder size, the neighbours-only convention,
the flow base it starts from, a tiny fit that keeps or improves it on a moving square, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from vsinr_snerv import temporal as T
from vsinr_snerv.fit import FitError

from vsinr.ops.flow import between, pairs

pytestmark = pytest.mark.slow  # fits representations to clips


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a small shared machine, more threads contend and run several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return -10 * math.log10(float(((a - b) ** 2).mean()))


def moving_square(count: int, height: int = 48, width: int = 64, side: int = 12, step: int = 2) -> torch.Tensor:
    """A coloured square moving ``step`` px per frame to the right over a smooth gradient."""
    yy, xx = torch.linspace(0, 1, height).view(-1, 1), torch.linspace(0, 1, width).view(1, -1)
    background = (0.15 + 0.2 * yy + 0.1 * xx).expand(3, height, width)
    frames = background.repeat(count, 1, 1, 1)
    for k in range(count):
        x0 = 8 + step * k
        frames[k, :, 18 : 18 + side, x0 : x0 + side] = torch.tensor([0.95, 0.85, 0.3]).view(3, 1, 1)
    return frames


def test_bunny_decoder_size_matches_the_facts_sheet():
    config = T.tconfig_for(640, 1280, 103, emb_size=20)
    assert config.strides == (5, 4, 2, 2, 2) and config.t_strides == (2, 2, 2, 2) and config.t_repeats == (2,)
    assert config.t_embed_size == (20, 40) and config.embed_size == (2, 4)
    assert T.t_decoder_parameters(config) == 2_339_468  # facts §10: decoder incl. temporal-embedding decoder
    assert T.t_total_parameters(config, 132) == 2_339_468 + 132 * (130 + 4800)
    assert T.TConfig.from_json(config.to_json()) == config
    assert T.tconfig_for(960, 1920, 100).t_strides == (3, 2, 2, 2)
    assert T.tconfig_for(480, 960, 100, emb_size=10).t_repeats == (3,)


@pytest.mark.parametrize("size", [(64, 96), (144, 176), (37, 50)])
def test_decodes_clip_sized_frames_at_integer_and_in_between_times(size):
    torch.manual_seed(0)
    config = T.tconfig_for(*size, fc_dim=12, emb_size=6)
    model = T.SNeRVT(config)
    frames = torch.rand(3, 3, *size)
    for time in (0.0, 0.5, 1.0, 1.75, 2.0):
        assert T.render_t(model, frames, time).shape == (3, *size)
    start, previous, following = model.inputs(frames, 1.0)
    out, low, high = model(start.repeat(2, 1, 1, 1), previous.repeat(2, 1, 1, 1), following.repeat(2, 1, 1, 1))
    assert out.shape == (2, 3, *config.padded) and low.shape == (2, 3, config.padded[0] // 2, config.padded[1] // 2)
    assert high.shape == (2, 3, 3, config.padded[0] // 2, config.padded[1] // 2)
    with pytest.raises(ValueError, match="outside"):
        T.render_t(model, frames, 2.5)


def test_sources_follow_the_interpolation_convention():
    assert T.sources(5, 0.0) == (0, 0, 0.0, 1, 1)  # mirrored at the ends
    assert T.sources(5, 4.0) == (4, 4, 0.0, 3, 3)
    assert T.sources(5, 2.0, held_out=True) == (1, 3, 0.5, 1, 3)
    assert T.sources(5, 0.0, held_out=True) == (0, 0, 0.0, 1, 1)  # no neighbour on one side: own embedding
    assert T.sources(5, 2.25) == (2, 3, 0.25, 2, 3)


def test_in_between_times_depend_on_the_two_neighbouring_frames_only():
    torch.manual_seed(0)
    model = T.SNeRVT(T.tconfig_for(32, 48, fc_dim=12, emb_size=4))
    frames = torch.rand(5, 3, 32, 48)
    T.fit_t(model, frames, T.t_schedule(1), "cpu", seed=0)  # a couple of steps: weights off their init
    changed = frames.clone()
    changed[[0, 3, 4]] = torch.rand(3, 3, 32, 48)
    for time in (1.5, 1.25):
        assert torch.allclose(T.render_t(model, frames, time), T.render_t(model, changed, time), atol=1e-6)
    changed = frames.clone()
    changed[2] = torch.rand(3, 32, 48)
    assert not torch.allclose(T.render_t(model, frames, 1.5), T.render_t(model, changed, 1.5))
    # frame t never reaches its own temporal streams, and held out not even the base
    for ours, theirs in zip(model.inputs(frames, 2.0)[1:], model.inputs(changed, 2.0)[1:], strict=True):
        assert torch.equal(ours, theirs)
    assert torch.allclose(T.render_t(model, frames, 2.0, held_out=True),
                          T.render_t(model, changed, 2.0, held_out=True), atol=1e-6)


def test_an_unfitted_model_renders_the_flow_base_and_observed_times_exactly():
    full = moving_square(5)
    observed = full[0::2]
    torch.manual_seed(0)
    model = T.SNeRVT(T.tconfig_for(48, 64, fc_dim=12, emb_size=6))
    forward, backward = pairs(observed[:2])
    base = between(observed[:1], observed[1:2], forward, backward, 0.5)[0]
    assert torch.allclose(T.render_t(model, observed, 0.5), base, atol=1e-5)
    assert torch.allclose(T.render_t(model, observed, 2.0), observed[2], atol=1e-5)
    # the flow moves the square: far closer to the missing frame than the blend of its neighbours
    assert _psnr(base, full[1]) > _psnr((observed[0] + observed[1]) / 2, full[1]) + 10


def test_rendering_reuses_a_pairs_flow_and_keeps_two(monkeypatch):
    observed = moving_square(9)[0::2]
    torch.manual_seed(0)
    model = T.SNeRVT(T.tconfig_for(48, 64, fc_dim=12, emb_size=6))
    calls = []
    monkeypatch.setattr(T, "pairs", lambda frames: calls.append(1) or pairs(frames))
    flows: T.Flows = {}
    for time in (0.25, 0.5, 0.75, 1.5, 2.5, 0.5):
        assert torch.equal(T.render_t(model, observed, time, flows=flows), T.render_t(model, observed, time))
        assert len(flows) <= 2
    # without the dict: one flow per render (6); with it: pairs (0,1), (1,2), (2,3), then (0,1) again
    assert len(calls) == 6 + 4


@pytest.mark.heavy
def test_tiny_fit_keeps_the_in_between_frames_of_a_moving_square():
    full = moving_square(9)
    observed, missing = full[0::2], full[1::2]  # fit on even frames, render the odd ones at i + 0.5
    torch.manual_seed(0)
    model = T.SNeRVT(T.tconfig_for(48, 64, fc_dim=12, emb_size=6))

    def in_between() -> float:
        return sum(_psnr(T.render_t(model, observed, i + 0.5), missing[i]) for i in range(len(missing))) / len(missing)

    before = in_between()
    losses = T.fit_t(model, observed, T.t_schedule(25), "cpu", seed=0)
    after = in_between()
    blend = sum(_psnr((observed[i] + observed[i + 1]) / 2, missing[i]) for i in range(len(missing))) / len(missing)
    print(f"in-between PSNR: base {before:.2f} dB, fitted {after:.2f} dB, linear blend {blend:.2f} dB")
    assert losses[-1] < losses[0]
    # the flow already moves the square; the fitted correction must not spoil that
    assert after > before - 0.5 and after > blend + 10


def test_non_finite_frames_raise_fit_error():
    frames = torch.rand(3, 3, 32, 48)
    frames[1, 0, 5, 5] = float("nan")
    with pytest.raises(FitError, match="non-finite"):
        T.fit_t(T.SNeRVT(T.tconfig_for(32, 48, fc_dim=12)), frames, T.t_schedule(1), "cpu", seed=0)
