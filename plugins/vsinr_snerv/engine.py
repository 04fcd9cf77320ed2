"""The host's fitted engine for SNeRV: a chunk of the clip fitted as SNeRV-B, rendered frame by frame.

For ``Inpaint`` the frames arrive with the mask as a fourth channel (1: fill): the fit only sees the
other pixels (``fit.fit``'s masks), and the host keeps every unmasked pixel of the source exactly.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from vsinr_snerv.compress import fit_clip
from vsinr_snerv.fit import decoder_from, render
from vsinr_snerv.model import Config, SNeRV


class SNeRVEngine:
    """``vsinr.methods.FittedEngine`` for one set of settings."""

    READY = 2  # fitted pieces kept as built models (chunk blending alternates between two)

    def __init__(self, size: str, epochs: int, device: str, chunk: int, overlap: int, version: str):
        self.size, self.epochs, self.device = size, epochs, device
        self.chunk, self.overlap = chunk, overlap
        self.key = f"snerv {version} size={size} epochs={epochs}"
        self._ready: OrderedDict[int, tuple[dict[str, torch.Tensor], SNeRV]] = OrderedDict()

    def fit(self, frames: torch.Tensor, seed: int, log: Callable[[str], None], checkpoint: Path | None = None
            ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        known = None if frames.shape[1] == 3 else (frames[:, 3:] == 0).float()
        state, config = fit_clip(frames[:, :3], size=self.size, epochs=self.epochs, device=self.device, seed=seed,
                                 log=log, known=known, checkpoint=checkpoint)
        return state, {"model": config.to_json()}

    def render(self, fitted: tuple[dict[str, torch.Tensor], dict[str, Any]], frames: torch.Tensor,
               times: Sequence[float], out: Sequence[torch.Tensor]) -> None:
        state, info = fitted
        ready = self._ready.get(id(state))
        if ready is None or ready[0] is not state:  # build the decoder once per fitted piece
            model = decoder_from(state, SNeRV(Config.from_json(info["model"]))).to(self.device)
            self._ready[id(state)] = ready = (state, model)
            while len(self._ready) > self.READY:
                self._ready.popitem(last=False)
        self._ready.move_to_end(id(state))
        for tau, target in zip(times, out, strict=True):
            index = round(tau)
            if abs(tau - index) > 1e-6:
                raise ValueError("SNeRV-B renders the clip's own frames only; in-between times need SNeRV-T")
            target.copy_(render(ready[1], state, index).clamp(0, 1))
