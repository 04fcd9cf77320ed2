"""Per-thread reusable tensors: frame-sized temporaries without a fresh allocation (and its page faults)
for every frame. Imports torch."""

from __future__ import annotations

import threading

import torch

_scratch = threading.local()


def scratch(slot: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """A per-thread reusable buffer: frame-sized temporaries without a fresh allocation (and page faults)
    for every frame. Valid until the same thread asks for the same slot again."""
    buffers: dict[str, torch.Tensor] = _scratch.__dict__.setdefault("buffers", {})
    buffer = buffers.get(slot)
    if buffer is None or buffer.shape != shape or buffer.dtype != dtype or buffer.device != torch.device(device):
        buffer = buffers[slot] = torch.empty(shape, dtype=dtype, device=device)
    return buffer
