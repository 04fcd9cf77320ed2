"""SNeRV without VapourSynth: the Haar transform, model sizes against the facts sheet, masked fitting, the
codec's round trip and its refusals (``tests/test_snerv.py``: the CLI and ``core.vsinr.Decode``)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from vsinr_snerv import SIZES, compress
from vsinr_snerv import fit as Fi
from vsinr_snerv import model as M
from vsinr_snerv.vsnerv import CodecError
from vsinr_snerv.wavelet import dwt, idwt

pytestmark = pytest.mark.slow  # fits representations to clips


def test_haar_is_exactly_invertible_with_the_pywavelets_band_order():
    x = torch.rand(2, 3, 6, 10, dtype=torch.float64)
    low, high = dwt(x)
    assert torch.allclose(idwt(low, high), x, atol=1e-12)
    assert torch.allclose((low ** 2).sum() + (high ** 2).sum(), (x ** 2).sum())  # orthonormal
    block = torch.tensor([[1.0, 2.0], [3.0, 5.0]]).view(1, 1, 2, 2)  # a b / c d
    low, high = dwt(block)
    assert low.item() == pytest.approx(11 / 2)
    assert high.flatten().tolist() == pytest.approx([(1 + 2 - 3 - 5) / 2, (1 - 2 + 3 - 5) / 2, (1 - 2 - 3 + 5) / 2])
    assert (idwt(*dwt(torch.rand(1, 3, 8, 8))) - idwt(*dwt(torch.rand(1, 3, 8, 8)))).abs().max() > 0
    with pytest.raises(ValueError, match="even"):
        dwt(torch.rand(1, 3, 5, 8))


def test_sizes_match_the_facts_sheet_for_bunny():
    config = M.config_for(640, 1280, 111)
    assert config.strides == (5, 4, 2, 2, 2) and config.embed_size == (2, 4) and config.padded == (640, 1280)
    assert M.widths(111) == [92, 77, 64, 53, 44]
    assert M.decoder_parameters(config) == 2_991_851
    assert M.total_parameters(config, 132) == 2_991_851 + 132 * 130
    assert [M.sized(640, 1280, 132, s).fc_dim for s in SIZES] == [36, 54, 78, 110]
    # widths have a floor: a size far below the smallest model is refused, not silently exceeded
    with pytest.raises(ValueError, match="smallest model for 176x144 and 32 frames has 83,717"):
        M.sized(144, 176, 32, 50_000)
    assert M.plan(960, 1920)[0] == (5, 4, 3, 2, 2)
    assert M.plan(480, 960)[0] == (5, 3, 2, 2, 2)


@pytest.mark.parametrize("size", [(144, 176), (1080, 1920), (37, 50), (2, 2)])
def test_any_size_is_padded_to_a_plan_and_decodes_at_its_size(size):
    strides, (eh, ew), (ph, pw) = M.plan(*size)
    assert ph >= size[0] and pw >= size[1] and ph % 2 == 0 and pw % 2 == 0
    assert ph == 2 * eh * int(np.prod(strides)) and pw == 2 * ew * int(np.prod(strides))
    if size[0] * size[1] < 1e5:
        config = M.config_for(*size, fc_dim=16)
        model = M.SNeRV(config)
        out, _, _ = model.decode(torch.zeros(1, M.EMBED, eh, ew), torch.tensor([[0.0, 2.0]]))
        assert out.shape[-2:] == (ph, pw)


def test_masked_pixels_do_not_influence_the_fit():
    torch.manual_seed(0)
    frames = torch.rand(2, 3, 16, 16)
    known = torch.ones(2, 1, 16, 16)
    known[:, :, 4:9, 5:11] = 0
    other = frames.clone()
    other[:, :, 4:9, 5:11] = torch.rand(2, 3, 5, 6) * 50  # wildly different hole contents

    def run(clip: torch.Tensor) -> list[float]:
        torch.manual_seed(3)
        model = M.SNeRV(M.config_for(16, 16, 16))
        losses: list[float] = []
        Fi.fit(model, clip, Fi.Schedule(epochs=2), "cpu", seed=1, known=known,
               frame_loss=lambda i, loss: losses.append(loss))
        return losses + [float(p.detach().sum()) for p in model.parameters()]

    assert run(frames) == run(other)
    unmasked = frames.clone()
    unmasked[:, :, 0, 0] += 0.5  # a known pixel does count
    assert run(unmasked)[:4] != run(frames)[:4]


def test_fit_learns_and_rejects_nan():
    torch.manual_seed(0)
    ramp = torch.linspace(0, 1, 32)
    frames = torch.stack([(ramp[None, :] * ramp[:, None] + 0.1 * t).clamp(0, 1).expand(3, 32, 32) for t in range(3)])
    model = M.SNeRV(M.config_for(32, 32, 16))
    before = float(((Fi.render(model, Fi.representation(model, frames), 0) - frames[0]) ** 2).mean())
    Fi.fit(model, frames, Fi.Schedule(epochs=40), "cpu", seed=1)
    after = float(((Fi.render(model, Fi.representation(model, frames), 0) - frames[0]) ** 2).mean())
    assert after < before / 10
    bad = frames.clone()
    bad[1, 0, 3, 3] = float("nan")
    with pytest.raises(Fi.FitError, match="non-finite"):
        Fi.fit(model, bad, Fi.Schedule(epochs=1), "cpu", seed=1)


def test_pruning_zeroes_the_smallest_tenth_and_keeps_it_zero():
    torch.manual_seed(0)
    model = M.SNeRV(M.config_for(16, 16, 16))
    keep = Fi.prune(model, 0.1)
    zeros = sum(int((p == 0).sum()) for n, p in model.named_parameters() if n in keep)
    total = sum(p.numel() for n, p in model.named_parameters() if n in keep)
    assert abs(zeros / total - 0.1) < 0.01
    Fi.fit(model, torch.rand(2, 3, 16, 16), Fi.Schedule(epochs=1), "cpu", seed=1, keep=keep)
    assert all(bool((p[keep[n] == 0] == 0).all()) for n, p in model.named_parameters() if n in keep)


def test_encode_then_decode_gives_the_in_memory_quantised_frames_bit_for_bit(tmp_path: Path):
    torch.manual_seed(0)
    frames = torch.rand(3, 3, 16, 24)
    state, config = Fi.fit_clip(frames, size=50000, epochs=2)
    path = tmp_path / "clip.vsnerv"
    compress.write(path, state, config, Fraction(25))
    clip = compress.open_file(path)
    assert (clip.num_frames, clip.height, clip.width, clip.fps) == (3, 16, 24, Fraction(25))
    expected = compress.quantised_frames(state, config)
    decoded = torch.stack([clip.frame(i) for i in (2, 0, 1)])[[1, 2, 0]]  # any order
    assert torch.equal(decoded, expected)
    assert not torch.equal(expected, torch.stack([Fi.render(clip.model, state, i).clamp(0, 1) for i in range(3)]))
    with pytest.raises(IndexError):
        clip.frame(3)
    result = compress.encode(frames, Fraction(25), tmp_path / "again.vsnerv", size=50000, epochs=2)
    assert result.bytes == (tmp_path / "again.vsnerv").stat().st_size
    assert result.bpp == pytest.approx(8 * result.bytes / (16 * 24 * 3))


def test_damaged_files_are_refused_cleanly(tmp_path: Path):
    torch.manual_seed(0)
    path = tmp_path / "clip.vsnerv"
    compress.encode(torch.rand(2, 3, 8, 8), Fraction(24), path, size=50000, epochs=1)
    data = path.read_bytes()
    for position in range(0, len(data), max(1, len(data) // 64)):
        damaged = bytearray(data)
        damaged[position] ^= 0x55
        path.write_bytes(bytes(damaged))
        with pytest.raises(CodecError):
            compress.open_file(path)
    for length in (0, 5, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:length])
        with pytest.raises(CodecError):
            compress.open_file(path)
    with pytest.raises(CodecError):
        compress.open_file(tmp_path / "missing.vsnerv")


def test_decompression_amplification_is_refused(tmp_path: Path) -> None:
    from vsinr_snerv.vsnerv import container

    target = tmp_path / "bomb.vsnerv"
    container.save(target, {"format": "x"}, {"zeros": (np.zeros((4096, 4096), np.float32), 2)})  # codes to ~nothing
    assert target.stat().st_size < 10_000
    with pytest.raises(CodecError, match="more than any encoder writes"):
        container.load(target)
