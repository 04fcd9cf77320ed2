"""The shared training pipeline: data windows, the evaluation's degradation, and a resumable loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import training_material
from PIL import Image

from vsinr.ops.degrade import imresize
from vsinr.training.data import SyntheticMotion, VideoFolder, augment, degrade
from vsinr.training.loop import Prefetch, Stage, charbonnier, fit_to_time, train


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


def test_decoded_npz_clips_train_without_pyav(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, size=(20, 24, 32, 3), dtype=np.uint8)
    np.savez_compressed(tmp_path / "clip.npz", frames=frames)
    train_split, val_split = VideoFolder(tmp_path, "train"), VideoFolder(tmp_path, "val")
    assert len(train_split.clips) == 1 and np.array_equal(train_split.clips[0], frames[:17])
    assert np.array_equal(val_split.clips[0], frames[15:])  # the held-out tail, with 2 frames of context
    window, times = train_split.sample(np.random.default_rng(1), (16, 16), inner=2)
    assert window.shape == (4, 3, 16, 16) and times[0] == 0 and times[-1] == 1


def _batch(key: str, rng: np.random.Generator) -> tuple[str, float]:
    return key, float(rng.random())


def test_prefetched_batches_do_not_depend_on_the_number_of_workers() -> None:
    def draw(workers: int) -> list[tuple[str, float]]:
        rng, batches = np.random.default_rng(3), Prefetch(_batch, workers)
        try:
            return [batches.get(key, rng) for key in ["a"] * 4 + ["b"] * 3]
        finally:
            batches.close()

    inline, pooled = draw(0), draw(2)
    assert [k for k, _ in pooled] == ["a"] * 4 + ["b"] * 3
    assert inline[:4] == pooled[:4]  # stage "b" starts after batches of "a" were queued, so its seeds differ
    assert len({v for _, v in pooled}) == 7


def test_fit_to_time_scales_every_stage_together() -> None:
    stages = [Stage("x4", 1000, 1e-3), Stage("any", 500, 5e-4)]
    fitted = fit_to_time(stages, seconds_per_step=0.5, seconds=300)
    assert [s.steps for s in fitted] == [400, 200] and [s.lr for s in fitted] == [1e-3, 5e-4]


def test_training_and_the_engines_import_without_vapoursynth() -> None:
    """A rented GPU has torch but no VapourSynth: training and the speed benchmark must still import."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['vapoursynth'] = None\n"
            "import vsinr.training.loop, vsinr.training.data, vsinr.runtime.weights, vsinr.nn.zsm\n"
            "import vsinr_videoinr.engine, vsinr_zsm.engine, vsinr_flowfill.engine")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("recipe,options", [
    ("videoinr", ["--config", "tiny", "--steps", "2", "--steps2", "1", "--patch", "8"]),
    ("zsm", ["--config", "tiny", "--task", "x1", "--degradation", "jpeg", "--patch", "16"]),
    ("zsm", ["--config", "tiny", "--task", "x4x2", "--cyclic", "0.1", "--patch", "8"]),
    ("flowfill", ["--config", "fill_tiny", "--patch", "32"]),
])
@pytest.mark.heavy
def test_every_recipe_trains_resumes_and_exports_through_the_one_entry(tmp_path: Path, recipe: str,
                                                                      options: list[str]) -> None:
    from vsinr.runtime import weights
    from vsinr.training import entry

    videos, photos = training_material(tmp_path)
    export = tmp_path / "w.safetensors"
    argv = [recipe, "--videos", str(videos), "--photos", str(photos), "--run", str(tmp_path / "run"), "--batch", "1",
            "--steps", "2", "--threads", "1", *options, "--export", str(export)]
    entry.main(argv)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["validation"]["psnr"] for r in log if "validation" in r]  # validated at the end, one measure
    assert json.loads((tmp_path / "run" / "args.json").read_text())["recipe"] == recipe
    state, config = weights.read(export, recipe)
    assert config is not None and all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    entry.main(argv)  # a finished run resumes to its end: nothing to train, and the file there is kept
    assert weights.read(export, recipe)[0].keys() == state.keys()


def test_the_entry_refuses_options_that_cannot_work_together(tmp_path: Path) -> None:
    from vsinr.training import entry

    videos, photos = training_material(tmp_path)
    with pytest.raises(SystemExit):
        entry.main(["zsm-flow", "--videos", str(videos), "--photos", str(photos), "--run", str(tmp_path / "r"),
                    "--degradation", "clean"])
    with pytest.raises(SystemExit):
        entry.main(["no-such-recipe"])
