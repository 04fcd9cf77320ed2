"""The host's fitted engine for SNeRV: a chunk of the clip fitted, then rendered frame by frame.

- ``Inpaint``: SNeRV-B. The frames arrive with their mask (1: fill); the fit only sees the other pixels (``fit.fit``'s masks), and the host keeps every unmasked pixel of the source exactly.
- ``Interpolate``: SNeRV-T (``temporal``), which renders times between the chunk's frames from their
  neighbours; the chunk's own frames pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from vsinr.runtime import fitting
from vsinr_snerv import temporal
from vsinr_snerv.fit import decoder_from, fit_clip, render
from vsinr_snerv.model import Config, SNeRV, sized


class SNeRVEngine:
    """``vsinr.host.methods.FittedEngine`` for one set of settings."""

    def __init__(self, task: str, size: str, epochs: int, device: str, chunk: int, overlap: int, version: str,
                 hold: float = 1.0):
        self.temporal = task == "interpolate"
        self.size, self.epochs, self.device, self.hold = size, epochs, device, hold
        self.chunk, self.overlap = chunk, overlap
        variant = f"T hold={hold}" if self.temporal else "B"
        self.key = f"snerv {version} {variant} size={size} epochs={epochs}"
        self._ready = fitting.BuiltCache()

    def fit(self, frames: torch.Tensor, seed: int, log: Callable[[str], None], checkpoint: Path | None = None,
            mask: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        if self.temporal:
            count, _, height, width = frames.shape
            config = sized(height, width, count, self.size, temporal.tconfig_for, temporal.t_total_parameters)
            with fitting.seeded(seed):
                model = temporal.SNeRVT(config)
            log(f"SNeRV-T fc_dim {config.fc_dim}, strides {config.strides}, temporal {config.t_strides}")
            temporal.fit_t(model, frames, temporal.t_schedule(self.epochs), self.device, seed, log, self.hold,
                           checkpoint)
            # the encoders stay: rendering a time computes its neighbours' embeddings from their frames
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            return state, {"variant": "T", "model": config.to_json()}
        known = None if mask is None else (mask == 0).float()
        if known is not None and len(known) > 1 and bool((known == known[:1]).all()) and not bool(known.all()):
            log("warning: the mask is the same in every frame of this piece, so no frame sees what lies under "
                "it; SNeRV can only fill it smoothly there, about as well as a Laplace fill (docs/snerv.md)")
        state, config = fit_clip(frames, size=self.size, epochs=self.epochs, device=self.device, seed=seed,
                                 log=log, known=known, checkpoint=checkpoint)
        return state, {"variant": "B", "model": config.to_json()}

    def render(self, fitted: tuple[dict[str, torch.Tensor], dict[str, Any]], frames: torch.Tensor,
               times: Sequence[float], out: Sequence[torch.Tensor]) -> None:
        state, info = fitted

        def build() -> tuple[torch.nn.Module, temporal.Flows]:  # once per fitted piece, not per frame
            if info.get("variant") == "T":
                model: torch.nn.Module = temporal.SNeRVT(temporal.TConfig.from_json(info["model"]))
                model.load_state_dict(state)
            else:
                model = decoder_from(state, SNeRV(Config.from_json(info["model"])))
            return model.to(self.device).eval(), {}  # (SNeRV-T: the piece's recent flows)

        model, flows = self._ready.get(state, build)
        for tau, target in zip(times, out, strict=True):
            index = round(tau)
            if isinstance(model, temporal.SNeRVT):
                if float(tau).is_integer():
                    target.copy_(frames[index])  # observed frames pass through untouched
                else:
                    target.copy_(temporal.render_t(model, frames.float(), float(tau), flows=flows).clamp(0, 1))
            elif abs(tau - index) > 1e-6:
                raise ValueError("SNeRV-B renders the clip's own frames only; in-between times need SNeRV-T")
            else:
                target.copy_(render(model, state, index).clamp(0, 1))
