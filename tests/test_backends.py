"""Learned defaults on ONNX Runtime and OpenVINO (``backend=``): the frames PyTorch makes, to float32
rounding; ``vsinr export``'s files pass onnx.checker and say what their inputs are; a runtime that is
missing is a clear error."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vapoursynth as vs
from conftest import error_of, frames, moving_frames, noise_clip, run

import vsinr
from vsinr.io import media
from vsinr.runtime import backends

RUNTIMES = [b for b in ("ort", "ov") if backends.installed(b)]
pytestmark = pytest.mark.skipif(not RUNTIMES or not backends.installed("ort"), reason="pip install onnxruntime openvino")


def _holes(clip: vs.VideoNode) -> vs.VideoNode:
    mask = np.zeros((clip.height, clip.width), bool)
    mask[10:22, 20:36] = True
    return media.mask_clip(mask, clip)


CALLS: dict[str, Any] = {
    "denoise noise": lambda c, b: vsinr.denoise(c, method="zsm", degradation="noise", backend=b),
    "denoise jpeg": lambda c, b: vsinr.denoise(c, method="zsm", degradation="jpeg", backend=b),
    "stvsr x4x2": lambda c, b: vsinr.stvsr(c, 4, 2, method="zsm", backend=b),
    "stvsr x4x2 noise": lambda c, b: vsinr.stvsr(c, 4, 2, method="zsm", degradation="noise", backend=b),
    "stvsr x4x2 jpeg": lambda c, b: vsinr.stvsr(c, 4, 2, method="zsm", degradation="jpeg", backend=b),
    "stvsr x2x2 videoinr": lambda c, b: vsinr.stvsr(c, 2, 2, method="videoinr", backend=b),
    "inpaint flowfill": lambda c, b, w: vsinr.inpaint(c, _holes(c), method="flowfill", refine=1, weights=w, backend=b),
}


def _fill_weights(path: Path) -> str:
    """flowfill weights whose correction is not zero (random, not trained: the comparison needs the
    network to run, not to be good)."""
    import torch
    from vsinr_flowfill.model import CONFIGS, FillNet

    from vsinr.runtime import weights

    torch.manual_seed(0)
    model = FillNet(CONFIGS["fill"])
    with torch.no_grad():
        model.tail.weight.normal_(0, 0.02)
    weights.save(path, model.state_dict(), "flowfill", model.config, half=False)
    return str(path)


@pytest.mark.parametrize("call", sorted(CALLS))
def test_every_default_gives_pytorchs_frames_on_every_runtime(call: str, tmp_path: Path) -> None:
    make = CALLS[call]
    if call == "inpaint flowfill":
        fill = _fill_weights(tmp_path / "fill.safetensors")
        make = lambda c, b: CALLS[call](c, b, fill)  # noqa: E731
    clip = media.clip_from_arrays(moving_frames(5, 32, 48), Fraction(24))
    torch_frames = np.stack(frames(make(clip, "torch")))
    for backend in RUNTIMES:
        other = np.stack(frames(make(clip, backend)))
        assert np.abs(other - torch_frames).max() <= 1e-4, (call, backend)


def test_export_writes_checked_onnx_with_its_layout(tmp_path: Path) -> None:
    import onnx

    done = run(["vsinr", "export", "zsm", "--task", "denoise", "--degradation", "jpeg", "-o", str(tmp_path / "zsm.onnx")])
    assert done.returncode == 0, done.stderr
    [written] = json.loads(done.stdout.decode())
    model = onnx.load(written["file"])
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert "frames moved onto the centre" in meta["vsinr_input_layout"] and json.loads(meta["vsinr_config"])["scale"] == 1
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[1].dim_value == written["channels"] and dims[2].dim_param and dims[3].dim_param  # dynamic H, W
    done = run(["vsinr", "export", "videoinr", "-o", str(tmp_path / "v.onnx")])
    assert sorted(p.name for p in tmp_path.glob("v_*.onnx")) == ["v_decoder.onnx", "v_encoder.onnx"]
    assert "no network to export" in run(["vsinr", "export", "classic", "-o", str(tmp_path / "c.onnx")]).stderr.decode()


def test_a_missing_runtime_or_a_wrong_device_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "installed", lambda b: b == "torch")
    assert backends.resolve("auto", "cpu") == "torch"
    with pytest.raises(ValueError, match="pip install onnxruntime"):
        backends.resolve("ort", "cpu")
    monkeypatch.undo()
    if backends.installed("ov"):
        with pytest.raises(ValueError, match="runs on the CPU"):
            backends.resolve("ov", "cuda:0")
    with pytest.raises(ValueError, match="TensorRT"):
        backends.resolve("trt", "cpu")
    assert "backend=" in error_of(lambda: vsinr.denoise(noise_clip(48, 32, 3), method="zsm", backend="tensorflow"))


@pytest.mark.skipif(not backends.installed("ov"), reason="pip install openvino")
def test_bf16_on_the_cpu_is_openvinos_and_close_to_fp32() -> None:
    clip = media.clip_from_arrays(moving_frames(5, 32, 48), Fraction(24))
    exact = np.stack(frames(vsinr.stvsr(clip, 4, 2, method="zsm", backend="torch")))
    half = np.stack(frames(vsinr.stvsr(clip, 4, 2, method="zsm", precision="bf16")))  # auto: OpenVINO
    assert np.abs(half - exact).max() < 1 / 64  # bf16 (where the CPU has it) or f32: close, not equal
    for bad, match in (({"precision": "bf16", "backend": "torch"}, "backend='ov'"),
                       ({"precision": "fp16"}, "needs a CUDA device")):
        with pytest.raises(vs.Error, match=match):
            vsinr.stvsr(clip, 4, 2, method="zsm", **bad)
