"""Official checkpoints give the authors' outputs: small random checkpoints in the authors' layout
(ZSM and VideoINR), loaded from their state dicts alone, against outputs of the authors' code
(``tests/data/golden``, whose README gives the call conventions).

Through the engines and ``core.vsinr.STVSR``, at sides that are multiples of 4 and at sides that are not
(the authors pad with zeros), at a non-integer size, and after ``vsinr weights convert``.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs
from conftest import ROOT, error_of, frames, run
from vsinr_videoinr import engine as videoinr_engine
from vsinr_zsm import engine as zsm_engine

from vsinr.io import media

GOLDEN = ROOT / "tests" / "data" / "golden"
# float32 rounding between two correct implementations (README there): max |d| by method, mean |d|
MAX_D, MEAN_D = {"zsm": 1e-5, "videoinr": 5e-5}, 1e-6
core = vs.core


def _mix(z: np.ndarray) -> np.ndarray:  # splitmix64's finaliser
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _normals(seed: int, index: int, count: int) -> np.ndarray:
    """The recipe's draws: each the sum of twelve 24-bit uniforms from splitmix64 counters, minus 6."""
    gamma = np.uint64(0x9E3779B97F4A7C15)
    base = _mix(np.array([seed], dtype=np.uint64) * gamma + np.uint64(index))
    u = _mix(base + np.arange(1, 12 * count + 1, dtype=np.uint64) * gamma) >> np.uint64(40)
    return u.reshape(count, 12).sum(axis=1, dtype=np.int64).astype(np.float64) / 2.0**24 - 6.0


def rebuild(recipe_path: Path, target: Path) -> Path:
    """The checkpoint of a recipe, bit for bit, written as the authors store theirs (``torch.save``)."""
    recipe = json.loads(recipe_path.read_text())
    state, digest = OrderedDict(), hashlib.sha256()
    for index, entry in enumerate(recipe["tensors"]):
        shape = tuple(entry["shape"])
        n = _normals(int(recipe["seed"]), index, int(np.prod(shape)) if shape else 1).reshape(shape)
        if "std_rows" in entry:
            std = np.asarray(entry["std_rows"], np.float64).reshape((-1,) + (1,) * (len(shape) - 1))
        elif "std_cols" in entry:
            std = np.asarray(entry["std_cols"], np.float64).reshape((1, -1) + (1,) * (len(shape) - 2))
        else:
            std = np.float64(entry.get("std", 0.0))
        value = (np.float64(entry.get("mean", 0.0)) + std * n).astype("<f4")
        digest.update(entry["key"].encode())
        digest.update(value.tobytes())
        state[entry["key"]] = torch.from_numpy(value)
    assert digest.hexdigest() == recipe["sha256"]
    torch.save(state, target)
    return target


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rebuild(GOLDEN / "zsm_small.recipe.json", tmp_path_factory.mktemp("golden") / "zsm_small.pth")


@pytest.fixture(scope="module")
def videoinr_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rebuild(GOLDEN / "videoinr_small.recipe.json", tmp_path_factory.mktemp("golden") / "videoinr_small.pth")


@pytest.fixture(scope="module")
def golden() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    inputs, outputs = np.load(GOLDEN / "inputs.npz"), np.load(GOLDEN / "zsm_outputs.npz")
    return {k: inputs[k] for k in inputs}, {k: outputs[k] for k in outputs}


@pytest.fixture(scope="module")
def videoinr_golden() -> dict[str, np.ndarray]:
    outputs = np.load(GOLDEN / "videoinr_outputs.npz")
    return {k: outputs[k] for k in outputs}


def assert_matches(got: np.ndarray, expected: np.ndarray, method: str = "zsm") -> None:
    d = np.abs(got - expected)
    assert d.max() <= MAX_D[method] and d.mean() <= MEAN_D, (d.max(), d.mean())


def test_an_official_checkpoint_of_any_size_loads_from_its_state_dict(checkpoint: Path) -> None:
    model = zsm_engine.load_model(checkpoint, "stvsr", "clean")
    assert {k: model.config[k] for k in ("nf", "groups", "front_blocks", "back_blocks", "hr_nf", "padding")} == {
        "nf": 16, "groups": 4, "front_blocks": 2, "back_blocks": 3, "hr_nf": 64, "padding": "zeros"}
    assert sum(p.numel() for p in model.parameters()) == 716_763


@pytest.mark.parametrize("key", ["a", "b", "c"])
def test_the_engine_gives_the_authors_outputs(checkpoint: Path, golden: tuple, key: str) -> None:
    inputs, outputs = golden
    engine = zsm_engine.ZSMEngine(zsm_engine.load_model(checkpoint, "stvsr", "clean"), "cpu")
    x = [torch.from_numpy(f) for f in inputs[key]]
    h, w = x[0].shape[-2:]
    index = [int(i) for i in outputs[f"{key}_index"]]
    out = [torch.empty(3, 4 * h, 4 * w) for _ in index]
    engine.render(x, [i / 2 for i in index], out)
    got = np.stack([o.numpy() for o in out])
    channels = [int(c) for c in outputs.get(f"{key}_channels", range(3))]
    assert_matches(got[:, channels], outputs[key])


@pytest.mark.heavy
@pytest.mark.parametrize("key", ["b", "c"])
def test_stvsr_gives_the_authors_outputs(checkpoint: Path, golden: tuple, key: str) -> None:
    inputs, outputs = golden
    clip = media.clip_from_arrays(list(inputs[key]), Fraction(24), vs.RGBS)
    got = frames(core.vsinr.STVSR(clip, 4, 2, method="zsm", weights=str(checkpoint)))
    channels = [int(c) for c in outputs.get(f"{key}_channels", range(3))]
    for n, expected in zip(outputs[f"{key}_index"], outputs[key], strict=True):
        assert_matches(got[int(n)][channels], expected)


def test_zsm_says_how_much_memory_a_frame_needs(checkpoint: Path, golden: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = media.clip_from_arrays(list(golden[0]["c"]), Fraction(24), vs.RGBS)
    from vsinr.runtime import devices

    monkeypatch.setattr(devices, "available_memory", lambda device: 64 << 20)
    message = error_of(lambda: core.vsinr.STVSR(clip, 4, 2, method="zsm", weights=str(checkpoint)))
    assert "needs about 0.13 GiB for 512x384" in message and "0.06 GiB available" in message


@pytest.mark.heavy
def test_a_converted_checkpoint_keeps_the_authors_outputs(checkpoint: Path, golden: tuple, tmp_path: Path) -> None:
    inputs, outputs = golden
    target = tmp_path / "zsm_small.safetensors"
    result = run(["vsinr", "weights", "convert", "-m", "zsm", str(checkpoint), str(target)])
    assert result.returncode == 0, result.stderr.decode()
    clip = media.clip_from_arrays(list(inputs["b"]), Fraction(24), vs.RGBS)
    got = frames(core.vsinr.STVSR(clip, 4, 2, method="zsm", weights=str(target)))
    for n, expected in zip(outputs["b_index"], outputs["b"], strict=True):
        assert_matches(got[int(n)], expected)
    from safetensors import safe_open

    with safe_open(str(target), "pt") as f:  # float32 by default, and the header names its source
        assert f.get_tensor("conv_first.weight").dtype == torch.float32
        source = json.loads(f.metadata()["source"])
    assert source == {"file": "zsm_small.pth", "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest()}
    half = run(["vsinr", "weights", "convert", "-m", "zsm", "--half", str(checkpoint), str(target)])
    assert half.returncode == 0 and "float16 against float32" in half.stderr.decode(), half.stderr.decode()
    with safe_open(str(target), "pt") as f:
        assert f.get_tensor("conv_first.weight").dtype == torch.float16


def test_an_official_videoinr_checkpoint_of_any_size_loads_from_its_state_dict(videoinr_checkpoint: Path) -> None:
    model = videoinr_engine.load_model(videoinr_checkpoint)
    assert {k: model.config[k] for k in ("nf", "groups", "front_blocks", "back_blocks", "padding", "exact_grid")} == {
        "nf": 64, "groups": 2, "front_blocks": 1, "back_blocks": 2, "padding": "zeros", "exact_grid": False}
    assert sum(p.numel() for p in model.parameters()) == 6_528_214


@pytest.mark.heavy
@pytest.mark.parametrize("key,size", [("a", (192, 256)), ("b", (184, 248)), ("c", (384, 512)), ("nonint", (158, 211))])
def test_the_videoinr_engine_gives_the_authors_outputs(videoinr_checkpoint: Path, golden: tuple,
                                                       videoinr_golden: dict, key: str, size: tuple[int, int]) -> None:
    engine = videoinr_engine.VideoINREngine(videoinr_engine.load_model(videoinr_checkpoint), "cpu", rows=40)
    x = [torch.from_numpy(f) for f in golden[0]["a" if key == "nonint" else key][:2]]
    times = [float(t) for t in videoinr_golden[f"{key}_times"]]
    out = [torch.empty(3, *size) for _ in times]
    engine.render(x, times, out)
    channels = [int(c) for c in videoinr_golden.get(f"{key}_channels", range(3))]
    # the authors' demo decodes the padded frame (b: 192 × 256); its top-left is the real picture
    expected = videoinr_golden[key][..., : size[0], : size[1]]
    assert_matches(np.stack([o.numpy() for o in out])[:, channels], expected, "videoinr")


@pytest.mark.heavy
@pytest.mark.parametrize("key,tscale", [("b", 4), ("c", 2)])
def test_videoinr_stvsr_gives_the_authors_outputs(videoinr_checkpoint: Path, golden: tuple, videoinr_golden: dict,
                                                  key: str, tscale: int) -> None:
    clip = media.clip_from_arrays(list(golden[0][key][:2]), Fraction(24), vs.RGBS)
    got = frames(core.vsinr.STVSR(clip, 4, tscale, method="videoinr", weights=str(videoinr_checkpoint)))
    (t,) = videoinr_golden[f"{key}_times"]
    channels = [int(c) for c in videoinr_golden.get(f"{key}_channels", range(3))]
    frame = got[round(float(t) * tscale)]
    assert_matches(frame[channels], videoinr_golden[key][0, :, : frame.shape[1], : frame.shape[2]], "videoinr")
