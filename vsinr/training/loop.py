"""The training loop every pretrained method shares: stages with their own step counts and a cosine
learning-rate schedule, Charbonnier loss, resumable checkpoints written atomically, and a JSON-lines log
of loss and validation PSNR (printed to stderr as it goes).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from vsinr.runtime import optim


def charbonnier(output: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of sqrt(d² + eps²): L1 that stays smooth near zero."""
    return torch.sqrt((output - target) ** 2 + eps * eps).mean()


CHECKPOINT_FILE = "checkpoint.safetensors"  # in the run folder


@dataclass(frozen=True)
class Stage:
    """A phase of training: ``steps`` steps with its own batch maker settings (``name`` goes to the log)."""

    name: str
    steps: int
    lr: float


_maker: Callable[[str, np.random.Generator], object] | None = None  # set in the parent before forking


def _make(key: str, seed: int) -> object:
    torch.set_num_threads(1)
    assert _maker is not None, "Prefetch sets the batch maker before its workers start"
    return _maker(key, np.random.default_rng(seed))


class Prefetch:
    """Makes batches in worker processes while the model trains, so a GPU is not left waiting on the
    CPU-side data synthesis. ``make(key, rng)`` builds one batch; ``get(key, rng)`` returns the next
    batch for ``key`` (a stage name, say), keeping ``depth`` more of that key in flight. Each batch gets
    its own seed drawn from ``rng`` in order, so the batches do not depend on the number of workers
    (``workers=0`` makes them in the calling process). Seeds drawn for batches still in flight when a
    run is interrupted are skipped on resuming.
    """

    def __init__(self, make: Callable[[str, np.random.Generator], object], workers: int, depth: int = 0):
        global _maker
        _maker = make
        self.make = make
        self.depth = depth or 2 * workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) if workers else None
        self.queues: dict[str, deque[Future]] = {}

    def get(self, key: str, rng: np.random.Generator) -> object:
        if self.pool is None:
            return self.make(key, np.random.default_rng(int(rng.integers(2**62))))
        queue = self.queues.setdefault(key, deque())
        for other in [k for k in self.queues if k != key]:  # a new stage: batches of the old one are moot
            for future in self.queues.pop(other):
                future.cancel()
        while len(queue) < self.depth + 1:
            queue.append(self.pool.submit(_make, key, int(rng.integers(2**62))))
        return queue.popleft().result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def fit_to_time(stages: Sequence[Stage], seconds_per_step: float, seconds: float) -> list[Stage]:
    """The stages with their step counts scaled together so that all of them take about ``seconds``."""
    factor = seconds / (seconds_per_step * sum(s.steps for s in stages))
    return [replace(s, steps=max(1, round(s.steps * factor))) for s in stages]


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
    seconds: float = 0.0,
    checkpoint_seconds: float = 0.0,
    batch: int = 0,
) -> None:
    """Run (or resume) every stage. ``step_fn`` returns the loss of one batch; ``validate`` a dict of numbers.

    ``run_dir/checkpoint.safetensors`` (``vsinr.runtime.optim.Run``) holds model, optimiser, step, random states
    and the stages; training picks up from it. With ``seconds``, a fresh run times its first steps and scales every stage's step count
    so the whole run takes about that long (the learning-rate schedules stretch with them).
    ``checkpoint_seconds`` spaces checkpoints at least that far apart (fast GPU steps). With ``batch``
    (samples per step), the run ends by logging its samples per second.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    optimiser = torch.optim.Adam(model.parameters(), lr=stages[0].lr, betas=(0.9, 0.99))
    rng = np.random.default_rng(seed)
    start = time.monotonic()
    saved = start

    def lr(done: int) -> float:  # cosine decay within each stage, to 1% of its rate
        stage, first = _stage_at(stages, done)
        return stage.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * (done - first) / stage.steps)))

    # torch's default generator is saved with the run: augmentations and dropout resume exactly too
    run = optim.Run(model, optimiser, sum(s.steps for s in stages), lr, clip=clip_grad,
                    generator=torch.default_generator, checkpoint=run_dir / CHECKPOINT_FILE, tag="training")
    step = run.resume()
    elapsed_before = 0.0
    if step:
        elapsed_before = float(run.extra["elapsed"])
        rng.bit_generator.state = run.extra["rng"]
        stages = [Stage(**s) for s in run.extra["stages"]]
        seconds = 0.0
        _log(run_dir, {"event": "resumed", "step": step})
    first_step = step
    total = run.total = sum(s.steps for s in stages)
    timed = 30  # steps timed before fitting the run to ``seconds`` (the first few include warm-up)
    losses: list[float] = []
    model.train()
    while step < total:
        stage, _ = _stage_at(stages, step)
        loss = step_fn(model, stage, rng)
        try:
            run.step(loss)
        except optim.Diverged as exc:
            raise optim.Diverged(f"{exc}; lower the learning rate") from None
        losses.append(loss.item())
        step += 1
        elapsed = elapsed_before + time.monotonic() - start
        if seconds and step == 5:
            warm = time.monotonic()
        if seconds and step == 5 + timed:
            stages = fit_to_time(stages, (time.monotonic() - warm) / timed, seconds - elapsed)
            stages[0] = replace(stages[0], steps=max(stages[0].steps, step + 1))
            total = run.total = sum(s.steps for s in stages)
            _log(run_dir, {"event": "fitted to time", "seconds": seconds,
                           "stages": {s.name: s.steps for s in stages}})
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
        due = step % checkpoint_every == 0 and time.monotonic() - saved >= checkpoint_seconds
        if due or step == total:
            saved = time.monotonic()
            run.save({"elapsed": elapsed, "rng": rng.bit_generator.state, "stages": [vars(s) for s in stages]})
    model.eval()
    done = step - first_step
    if batch and done:
        _log(run_dir, {"samples_per_second": round(batch * done / max(1e-9, time.monotonic() - start), 2)})


def export_if_better(model: torch.nn.Module, path: Path, method: str,
                     build: Callable[[dict], torch.nn.Module | None], score: Callable[[torch.nn.Module], float],
                     note: str = "", half: bool = False) -> bool:
    """Write ``model``'s weights (float32, or float16 with ``half``; ``model.config`` in the header) to
    ``path`` unless the file already there scores at least as well; ``build(config)`` makes a model for
    that file's configuration (None: not comparable, so it is replaced). Says on stderr which happened."""
    from vsinr.runtime import weights

    new = score(model)
    if path.exists():
        state, config = weights.read(path, method)
        old = build(config) if config else None
        if old is not None:
            weights.load_into(old, state, str(path))
            previous = score(old.eval())
            if previous >= new:
                print(f"kept {path}: its validation PSNR {previous} ≥ this run's {new}", file=sys.stderr)
                return False
    # ``config`` is a plain attribute of vsinr's models (a dict), not a submodule or buffer
    weights.save(path, model.state_dict(), method, cast(Mapping[str, Any], model.config), half=half)
    print(f"wrote {path} (validation PSNR {new}{note})", file=sys.stderr)
    return True


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
