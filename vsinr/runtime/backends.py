"""Where a learned method's network runs: PyTorch eager, ONNX Runtime, OpenVINO or TensorRT.

Only the network runs in a runtime; optical flow, warping and the fixed base stay in PyTorch. A
network part is an ``nn.Module`` with one NCHW input (N = 1, the channels of all its input planes
concatenated) and one NCHW output, the convention of vs-mlrt and vsscale. ``network`` exports it to
ONNX once (dynamic height and width, float32 weights, the input layout in the metadata), keeps the file
in the cache keyed by the weights, the part and the exporter's version, and returns a callable on
tensors. ``backend="auto"`` picks by the device, from what ``scripts/bench_backends.py`` measured:
``AUTO`` lists the order.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsinr.runtime.fitting import cache_dir

#: The names ``backend=`` takes.
BACKENDS = ("auto", "torch", "ort", "ov", "trt")
#: ``auto``'s order of preference per device kind, fastest first (measured by scripts/bench_backends.py).
AUTO = {"cpu": ("ov", "ort", "torch"), "cuda": ("trt", "ort", "torch")}
#: What to install for each runtime.
PACKAGES = {"ort": ("onnxruntime", "onnxruntime (or onnxruntime-gpu for CUDA)", "vsinr[ort]"),
            "ov": ("openvino", "openvino", "vsinr[ov]"),
            "trt": ("onnxruntime", "onnxruntime-gpu and tensorrt", "vsinr[trt]")}
OPSET = 17
#: Extra tensor a part's export traces with: its channels and a small even size.
EXAMPLE = (1, 32, 48)


@dataclass(frozen=True)
class Part:
    """A network part to run in a runtime: ``module`` (one input, one output), its input ``channels`` and
    what they are (``layout``, written into the ONNX metadata), and ``name`` (the file's stem)."""

    name: str
    module: nn.Module
    channels: int
    layout: str
    metadata: Mapping[str, str] = field(default_factory=dict)


class Method(nn.Module):
    """One method of a model as a module of its own, for a part that is not a submodule (what ONNX export
    traces; the model's weights stay its own)."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.method)(x)


def installed(backend: str) -> bool:
    """Whether the runtime of ``backend`` can be imported here (torch always can)."""
    if backend == "torch":
        return True
    import importlib.util

    return importlib.util.find_spec(PACKAGES[backend][0]) is not None


def resolve(backend: str, device: str) -> str:
    """``backend`` with ``auto`` replaced by the first installed runtime of ``AUTO`` for the device; a
    named runtime that is not installed (or cannot serve the device) is a ValueError saying what to do."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    if backend == "auto":
        found = next(b for b in AUTO[kind] if installed(b) and (b != "trt" or _has_trt()))
        return found
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {', '.join(BACKENDS)}")
    if not installed(backend):
        _, what, extra = PACKAGES[backend]
        raise ValueError(f"backend={backend!r} needs {what}: pip install {what.split(' ')[0]} (or '{extra}')")
    if backend == "trt" and (kind != "cuda" or not _has_trt()):
        raise ValueError("backend='trt' needs a CUDA device and ONNX Runtime's TensorRT provider "
                         "(onnxruntime-gpu with tensorrt installed)")
    if backend == "ov" and kind != "cpu":
        raise ValueError("backend='ov' runs on the CPU; use device='cpu', or backend='ort' or 'trt' on a GPU")
    return backend


def choose(backend: str, device: str, precision: str) -> str:
    """The runtime an engine's network runs in: ``resolve``'s, except that ``auto`` keeps torch for half
    precision on CUDA (torch computes in it) and takes OpenVINO for bf16 on the CPU (only it computes
    in bf16 there)."""
    cpu = not device.startswith("cuda")
    if precision != "fp32" and backend == "auto":
        return resolve("ov", device) if cpu else "torch"
    found = resolve(backend, device)
    if cpu and precision == "bf16" and found != "ov":
        raise ValueError(f"precision='bf16' on the CPU runs in OpenVINO: use backend='ov' (not {backend!r})")
    return found


def _has_trt() -> bool:
    if not installed("ort"):
        return False
    import onnxruntime

    return "TensorrtExecutionProvider" in onnxruntime.get_available_providers()


def digest(part: Part) -> str:
    """What the exported file depends on: the weights, the part's name and layout, torch and the opset."""
    h = hashlib.sha256()
    h.update(json.dumps([part.name, part.channels, part.layout, dict(part.metadata), torch.__version__, OPSET]).encode())
    for key, value in sorted(part.module.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def export(part: Part, path: Path) -> Path:
    """Write ``part`` as an ONNX file at ``path`` (dynamic height and width, float32, the layout in the
    metadata), checked by ``onnx.checker``; written beside and renamed, so a file there is never half
    written."""
    import onnx

    module = part.module.float().eval().cpu()
    example = torch.rand(1, part.channels, EXAMPLE[1], EXAMPLE[2])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's notices go nowhere useful under vspipe
            torch.onnx.export(module, (example,), str(partial), input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {2: "height", 3: "width"}, "output": {2: "out_height", 3: "out_width"}},
                              opset_version=OPSET, dynamo=False)
        model = onnx.load(str(partial))
        for key, value in {"vsinr_part": part.name, "vsinr_input_layout": part.layout, **part.metadata}.items():
            model.metadata_props.add(key=key, value=str(value))
        onnx.checker.check_model(model)
        onnx.save(model, str(partial))
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def cached_export(part: Part) -> Path:
    """The part's ONNX file in the cache (``$VSINR_CACHE`` or ~/.cache/vsinr, under ``onnx/``), exported on
    first use."""
    folder = cache_dir("")
    assert folder is not None  # only "off" has no folder
    path = folder / "onnx" / f"{part.name}-{digest(part)}.onnx"
    return path if path.exists() else export(part, path)


def network(part: Part, backend: str, device: str, log: Callable[[str], None] = lambda text: None,
            precision: str = "fp32") -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable running ``part`` on ``backend`` (resolved: not ``auto``) for inputs on ``device``;
    OpenVINO computes in bf16 for ``precision`` "bf16" (where the CPU has it; else f32)."""
    if backend == "torch":
        return part.module
    path = cached_export(part)
    threads = torch.get_num_threads()
    if backend == "ov":
        import openvino

        core = openvino.Core()
        # f32 unless asked: OpenVINO's CPU plugin computes in bf16 by default where the CPU has native bf16
        # (AVX-512 BF16, AMX), about 1e-3 away from torch's frames
        hint = "bf16" if precision == "bf16" else "f32"
        compiled = core.compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": hint,
                                                         "CACHE_DIR": str(path.parent / "openvino")})
        log(f"{part.name}: OpenVINO {openvino.__version__} on the CPU in {hint} ({path.name})")

        def run_ov(x: torch.Tensor) -> torch.Tensor:
            out = compiled(x.detach().float().cpu().contiguous().numpy())[0]
            return torch.from_numpy(out).to(x.device, x.dtype)

        return run_ov
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    providers: list[Any] = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        providers = [("CUDAExecutionProvider", {"device_id": index})] + providers
        if backend == "trt":
            engines = path.parent / "tensorrt"
            providers = [("TensorrtExecutionProvider", {"device_id": index, "trt_fp16_enable": True,
                                                        "trt_engine_cache_enable": True,
                                                        "trt_engine_cache_path": str(engines)})] + providers
    session = onnxruntime.InferenceSession(str(path), options, providers=providers)
    log(f"{part.name}: ONNX Runtime {onnxruntime.__version__}, {session.get_providers()[0]} ({path.name})")

    def run_ort(x: torch.Tensor) -> torch.Tensor:
        out = session.run(None, {"input": x.detach().float().cpu().contiguous().numpy()})[0]
        return torch.from_numpy(out).to(x.device, x.dtype)

    return run_ort
