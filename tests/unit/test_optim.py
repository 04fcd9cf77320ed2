"""The shared optimisation loop: a resumed run ends with the weights of an uninterrupted one; other
runs' checkpoints are ignored; a non-finite loss stops it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vsinr.runtime import optim


def run(path: Path | None, stop: int | None = None, tag: str = "t") -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    generator = torch.Generator().manual_seed(1)
    r = optim.Run(model, torch.optim.Adam(model.parameters()), 20, lambda k: 1e-2 * (1 - k / 20), clip=1.0,
                  generator=generator, checkpoint=path, tag=tag)
    r.resume()
    while r.done < r.total:
        x = torch.randn(8, 4, generator=generator)
        r.step(((model(x) - x[:, :2].flip(1)) ** 2).mean())
        if r.done % 5 == 0:
            r.save()
        if r.done == stop:
            break
    return model


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    straight = run(None)
    run(tmp_path / "c.safetensors", stop=12)  # killed after the checkpoint at step 10
    resumed = run(tmp_path / "c.safetensors")
    assert torch.equal(straight.weight, resumed.weight) and torch.equal(straight.bias, resumed.bias)
    other = run(tmp_path / "c.safetensors", tag="another fit")  # starts over: the same weights again
    assert torch.equal(straight.weight, other.weight)


def test_a_non_finite_loss_stops_the_run() -> None:
    model = torch.nn.Linear(2, 1)
    r = optim.Run(model, torch.optim.Adam(model.parameters()), 3, lambda k: 1e-3)
    with pytest.raises(optim.Diverged, match="at step 1 of 3"):
        r.step(model(torch.full((1, 2), float("nan"))).sum())
