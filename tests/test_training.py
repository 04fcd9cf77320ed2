"""The shared training pipeline: data windows, the evaluation's degradation, and a resumable loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vsinr.degrade import imresize
from vsinr.training.data import SyntheticMotion, augment, degrade
from vsinr.training.loop import Stage, charbonnier, train


def photo_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    smooth = np.cumsum(np.cumsum(rng.normal(size=(200, 240, 3)), 0), 1)
    smooth = (smooth - smooth.min()) / np.ptp(smooth) * 255
    Image.fromarray(smooth.astype(np.uint8)).save(folder / "a.png")
    return folder


def test_degrade_is_the_evaluation_downscale_then_8_bit() -> None:
    frames = torch.rand(2, 3, 40, 48)
    small = degrade(frames, (10, 12))
    want = np.stack([imresize(f.numpy(), 0.25) for f in frames])
    np.testing.assert_allclose(small.numpy(), np.round(np.clip(want, 0, 1) * 255) / 255, atol=1 / 255 + 1e-6)
    assert torch.equal(small, (small * 255).round() / 255)


def test_synthetic_windows_move_and_augment_keeps_time_order(tmp_path: Path) -> None:
    source = SyntheticMotion(photo_folder(tmp_path), max_motion=12)
    rng = np.random.default_rng(1)
    frames, times = source.sample(rng, (32, 32), inner=3)
    assert frames.shape == (5, 3, 32, 32) and times[0] == 0 and times[-1] == 1
    assert torch.all(times[1:] > times[:-1]) and 0 <= frames.min() and frames.max() <= 1
    assert not torch.equal(frames[0], frames[-1])  # it moves
    for _ in range(8):
        f, t = augment(rng, frames, times)
        assert torch.all(t[1:] > t[:-1]) and f.shape == frames.shape


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    def run(directory: Path, crash_at: int | None = None) -> torch.nn.Module:
        torch.manual_seed(0)
        model, target = torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)
        calls = [0]

        def step(net: torch.nn.Module, stage: Stage, rng: np.random.Generator) -> torch.Tensor:
            calls[0] += 1
            if calls[0] == crash_at:
                raise KeyboardInterrupt
            x = torch.from_numpy(rng.normal(size=(16, 4))).float()
            return charbonnier(net(x), target(x).detach())

        train(model, [Stage("a", 6, 1e-2), Stage("b", 6, 5e-3)], step, lambda net: {"w": float(net.weight.sum())},
              directory, validate_every=5, checkpoint_every=4)
        return model

    straight = run(tmp_path / "straight")
    try:
        run(tmp_path / "broken", crash_at=7)  # dies after the checkpoint at step 4
    except KeyboardInterrupt:
        pass
    resumed = run(tmp_path / "broken")
    assert torch.equal(straight.weight, resumed.weight) and torch.equal(straight.bias, resumed.bias)
    log = [json.loads(line) for line in (tmp_path / "broken" / "log.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "resumed" and r["step"] == 4 for r in log)
    assert [r["step"] for r in log if "validation" in r] == [5, 5, 10, 12]
