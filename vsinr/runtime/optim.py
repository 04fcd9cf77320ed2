"""The one optimisation loop of vsinr: per-clip fits (OF-SIREN, SNeRV-B and -T) and the training of
shipped weights all run through ``Run``.

A run is ``total`` optimiser steps. Each step checks the loss is finite, back-propagates, clips the
gradient norm (when asked), sets the learning rate from the step count and steps the optimiser, so a
run resumed from its checkpoint (the model, the optimiser's moments, the caller's generator and any
extra state, written atomically) ends with the very weights an uninterrupted run gives. Progress
reports say the rate and the time left. Imports torch.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from vsinr.runtime import weights

CHECKPOINT = "vsinr-run-checkpoint/2"  # the ``method`` tag of checkpoint files (progress counted in steps)


def checkpoint_tag(settings: Any, *tensors: torch.Tensor | None) -> str:
    """What a checkpoint must match to be resumed: JSON-ready ``settings`` and the data optimised on."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for tensor in tensors:
        if tensor is not None:
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


class Diverged(FloatingPointError):
    """The loss became NaN or infinite; nothing of the run should be kept."""


class Run:
    """``total`` steps of ``optimizer`` on ``model``; ``lr(step)`` is the learning rate of a step.

    With a ``checkpoint`` path, ``tag`` (what the run depends on: ``checkpoint_tag``) must match for a
    checkpoint to be resumed; ``generator`` (a torch generator the caller samples with) is saved and
    restored with it. ``done`` is the number of steps already made (those resumed included).
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, total: int,
                 lr: Callable[[int], float], *, clip: float | None = None, generator: torch.Generator | None = None,
                 checkpoint: Path | None = None, tag: str = "", log: Callable[[str], None] = lambda text: None,
                 after_step: Callable[[], None] | None = None):
        self.model, self.optimizer, self.total, self.lr = model, optimizer, total, lr
        self.clip, self.generator, self.path, self.tag, self.log = clip, generator, checkpoint, tag, log
        self.after_step = after_step
        self.extra: dict[str, Any] = {}  # the caller's own state, restored by ``resume``
        self.done = 0
        self.first = 0
        self.started = time.monotonic()

    def resume(self) -> int:
        """Load the checkpoint when it is this run's; returns the step to continue from (0: none)."""
        if self.path is None or not self.path.is_file():
            return 0
        try:
            tensors, info = weights.read(self.path, CHECKPOINT)
            if not info or info.get("tag") != self.tag:
                self.log("a checkpoint of another run (other data or settings) is ignored; starting from the beginning")
                return 0
            device = next(self.model.parameters()).device
            self.model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
            state: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in tensors.items():
                if key.startswith("adam."):
                    _, index, name = key.split(".", 2)
                    state.setdefault(int(index), {})[name] = value if name == "step" else value.to(device)
            self.optimizer.load_state_dict({"state": state, "param_groups": self.optimizer.state_dict()["param_groups"]})
            if self.generator is not None:
                self.generator.set_state(tensors["rng"])
            self.extra = dict(info.get("extra") or {})
        except (weights.WeightsError, KeyError, ValueError, RuntimeError) as exc:  # damaged: it only cost time
            self.log(f"an unusable checkpoint is ignored, starting from the beginning: {exc}")
            return 0
        self.done = self.first = int(info["progress"])
        self.log(f"resuming from the checkpoint ({self.done} of {self.total} steps done)")
        return self.done

    def step(self, loss: torch.Tensor) -> None:
        """One optimiser step on ``loss`` (``Diverged`` if it is not finite)."""
        if not torch.isfinite(loss):
            raise Diverged(f"the loss became {loss.item()} at step {self.done + 1} of {self.total}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        for group in self.optimizer.param_groups:  # from the step count, so a resumed run continues exactly
            group["lr"] = self.lr(self.done)
        self.optimizer.step()
        if self.after_step is not None:
            self.after_step()
        self.done += 1

    def save(self, extra: Mapping[str, Any] | None = None) -> None:
        """Write the checkpoint (atomically: a crash leaves the previous one); ``extra``: JSON-ready state
        of the caller's own. A full or read-only disk costs resumability, not the run."""
        if self.path is None:
            return
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        if self.generator is not None:
            tensors["rng"] = self.generator.get_state()
        for i, state in self.optimizer.state_dict()["state"].items():
            tensors |= {f"adam.{i}.{k}": v for k, v in state.items() if isinstance(v, torch.Tensor)}
        info = {"tag": self.tag, "progress": self.done, "extra": dict(extra or {})}
        try:
            weights.save(self.path, tensors, CHECKPOINT, info, half=False)
        except OSError as exc:
            self.log(f"could not write the checkpoint {str(self.path)!r} ({exc}); going on without it")

    def progress(self) -> str:
        """``step N/T, S s, about L s left`` for a progress report."""
        elapsed = time.monotonic() - self.started
        left = elapsed / max(1, self.done - self.first) * (self.total - self.done)
        return f"step {self.done}/{self.total}, {elapsed:.0f} s, about {left:.0f} s left"
