"""VideoINR: strict state_dict compatibility with the released checkpoint, and the decoder's conventions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from vsinr_videoinr.arch import VideoINR, make_coord

DATA = Path(__file__).resolve().parent.parent / "data"


def test_state_dict_matches_the_released_checkpoint_exactly() -> None:
    official = json.loads((DATA / "videoinr_state_dict.json").read_text())
    ours = {k: list(v.shape) for k, v in VideoINR().state_dict().items()}
    assert ours == official
    assert len(ours) == 442 and sum(math.prod(s) for s in ours.values()) == 11_312_698


def test_pixel_centre_coordinates() -> None:
    coord = make_coord(2, 4)
    assert coord[:, 0].tolist() == [-0.5] * 4 + [0.5] * 4  # y first, row-major
    assert coord[:4, 1].tolist() == [-0.75, -0.25, 0.25, 0.75]


def test_decodes_any_size_and_time() -> None:
    torch.manual_seed(0)
    net = VideoINR(nf=8, groups=2, front_blocks=1, back_blocks=1, hidden=16, wide=32).eval()
    frames = torch.rand(1, 2, 3, 8, 12)
    with torch.inference_mode():
        feat, inp = net.encode(frames)
        assert feat.shape == (1, 24, 8, 12) and inp.shape == (1, 6, 8, 12)
        a = net.decode(feat, inp, 0.3, (20, 30))
        b = net.decode(feat, inp, 0.3, (20, 30), chunk=7)  # chunking changes nothing
        c = net.decode(feat, inp, 0.7, (20, 30))
    assert a.shape == (1, 3, 20, 30) and torch.isfinite(a).all()
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)  # time reaches the output


def test_half_precision_autocast_decodes_like_fp32() -> None:
    """The fp16/bf16 path (autocast; CUDA in use, checked here with the CPU's bf16) runs the residual
    base and stays close to fp32. It once failed there: lerp got a half base and a float32 time."""
    torch.manual_seed(0)
    net = VideoINR(nf=8, groups=2, front_blocks=1, back_blocks=1, hidden=16, wide=32, residual=True).eval()
    frames = torch.rand(1, 2, 3, 8, 12)
    with torch.inference_mode():
        want = net.decode(*net.encode(frames), 0.4, (16, 24))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = net.decode(*net.encode(frames), 0.4, (16, 24))
    assert torch.isfinite(got).all() and (got.float() - want).abs().max() < 0.05
