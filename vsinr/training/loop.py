"""The training loop every pretrained method shares: stages with their own step counts and a cosine
learning-rate schedule, Charbonnier loss, resumable checkpoints written atomically, and a JSON-lines log
of loss and validation PSNR (printed to stderr as it goes).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vsinr.media import atomic_path


def charbonnier(output: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of sqrt(d² + eps²): L1 that stays smooth near zero."""
    return torch.sqrt((output - target) ** 2 + eps * eps).mean()


@dataclass(frozen=True)
class Stage:
    """A phase of training: ``steps`` steps with its own batch maker settings (``name`` goes to the log)."""

    name: str
    steps: int
    lr: float


def train(
    model: torch.nn.Module,
    stages: Sequence[Stage],
    step_fn: Callable[[torch.nn.Module, Stage, np.random.Generator], torch.Tensor],
    validate: Callable[[torch.nn.Module], dict[str, float]],
    run_dir: Path,
    *,
    validate_every: int = 250,
    checkpoint_every: int = 100,
    seed: int = 0,
    clip_grad: float = 1.0,
) -> None:
    """Run (or resume) every stage. ``step_fn`` returns the loss of one batch; ``validate`` a dict of numbers.

    ``run_dir/checkpoint.pt`` holds model, optimiser, step and random state; training picks up from it.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "checkpoint.pt"
    optimiser = torch.optim.Adam(model.parameters(), lr=stages[0].lr, betas=(0.9, 0.99))
    rng = np.random.default_rng(seed)
    step, start = 0, time.monotonic()
    elapsed_before = 0.0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        step, elapsed_before = int(state["step"]), float(state["elapsed"])
        rng.bit_generator.state = json.loads(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        _log(run_dir, {"event": "resumed", "step": step})
    total = sum(s.steps for s in stages)
    losses: list[float] = []
    model.train()
    while step < total:
        stage, first = _stage_at(stages, step)
        progress = (step - first) / stage.steps
        for group in optimiser.param_groups:  # cosine decay within each stage, to 1% of its rate
            group["lr"] = stage.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))
        loss = step_fn(model, stage, rng)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the learning rate")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        optimiser.step()
        losses.append(loss.item())
        step += 1
        elapsed = elapsed_before + time.monotonic() - start
        if step % 20 == 0:
            _log(run_dir, {"step": step, "stage": stage.name, "loss": float(np.mean(losses)),
                           "lr": optimiser.param_groups[0]["lr"], "seconds": round(elapsed, 1)})
            losses.clear()
        if step % validate_every == 0 or step == total:
            model.eval()
            with torch.no_grad():
                _log(run_dir, {"step": step, "stage": stage.name, "validation": validate(model),
                               "seconds": round(elapsed, 1)})
            model.train()
        if step % checkpoint_every == 0 or step == total:
            with atomic_path(checkpoint) as tmp:
                torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
                            "elapsed": elapsed, "rng": json.dumps(rng.bit_generator.state),
                            "torch_rng": torch.get_rng_state()}, tmp)
    model.eval()


def _stage_at(stages: Sequence[Stage], step: int) -> tuple[Stage, int]:
    first = 0
    for stage in stages:
        if step < first + stage.steps:
            return stage, first
        first += stage.steps
    return stages[-1], first - stages[-1].steps


def _log(run_dir: Path, record: dict) -> None:
    line = json.dumps(record)
    print(line, file=sys.stderr, flush=True)
    with open(run_dir / "log.jsonl", "a") as f:
        f.write(line + "\n")
