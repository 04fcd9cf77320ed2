"""Device and precision choice for engines (imports torch: call only once a filter is being created)."""

from __future__ import annotations

import contextlib
import os
import re


def resolve_device(spec: str) -> str:
    """Turn ``device=`` ("auto", "cpu", "cuda", "cuda:N") into a concrete torch device string.

    Raises ValueError with a fix when the device does not exist here.
    """
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return "cpu"
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not match:
        raise ValueError(f"device={spec!r} is not understood; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        raise ValueError(f"device={spec!r} but torch sees no CUDA GPU here; use device='cpu' or 'auto'")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ValueError(f"device={spec!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    return f"cuda:{index}"


def compute_half(device: str, clip_is_half: bool) -> bool:
    """Half precision is used for RGBH clips on a GPU; on the CPU engines compute in float32."""
    return clip_is_half and device.startswith("cuda")


def autocast(device: str, precision: str) -> contextlib.AbstractContextManager:
    """The context an engine computes in: nothing for "fp32" and on the CPU (where bf16 is OpenVINO's,
    ``vsinr.runtime.backends``), torch.autocast for "fp16"/"bf16" on CUDA."""
    import torch

    if precision == "fp32" or not device.startswith("cuda"):
        return contextlib.nullcontext()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    return torch.autocast(torch.device(device).type, dtype=dtype)


def available_memory(device: str) -> int:
    """Bytes an engine can still use on ``device``: free GPU memory, or the machine's available RAM."""
    import torch

    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
