"""The Zooming SlowMo network: strict state_dict compatibility with the released checkpoint, and shapes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from vsinr.nn.zsm import ZoomingSlowMo

DATA = Path(__file__).resolve().parent.parent / "data"


def test_state_dict_matches_the_released_checkpoint_exactly() -> None:
    official = json.loads((DATA / "zsm_state_dict.json").read_text())
    ours = {k: list(v.shape) for k, v in ZoomingSlowMo().state_dict().items()}
    assert set(ours) == set(official), (sorted(set(ours) - set(official))[:5], sorted(set(official) - set(ours))[:5])
    assert ours == official
    assert len(ours) == 416 and sum(math.prod(s) for s in ours.values()) == 11_102_771
    # a strict load of a state_dict with exactly those keys and shapes succeeds
    ZoomingSlowMo().load_state_dict({k: torch.zeros(s) for k, s in official.items()}, strict=True)


def test_small_configuration_shapes() -> None:
    torch.manual_seed(0)
    net = ZoomingSlowMo(nf=8, groups=2, front_blocks=1, back_blocks=1).eval()
    with torch.inference_mode():
        features = net.features(torch.rand(1, 3, 3, 8, 12))
        out = net.upsample(features)
    assert features.shape == (1, 5, 8, 8, 12)
    assert out.shape == (1, 5, 3, 32, 48) and torch.isfinite(out).all()
