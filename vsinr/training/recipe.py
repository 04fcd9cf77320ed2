"""What a method contributes to training: its model, its sample maker and its loss (a ``Recipe``).

Everything else (options, data sources, validation, prefetching, resume, the log and export) belongs to
the one training entry, ``vsinr.training.entry``. A method lists its recipes through
``MethodSpec.training``; ``vsinr train`` lists every installed one.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from vsinr.runtime.weights import Architecture
from vsinr.training.data import SyntheticMotion, VideoFolder
from vsinr.training.loop import Stage, charbonnier

#: One batch: the model's inputs, then the target last.
Batch = tuple[torch.Tensor, ...]


class Recipe:
    """How to train one architecture of a method.

    A subclass sets the class attributes and defines ``model`` and ``batch``. The defaults fit a network
    whose output layer starts at zero (``vsinr.nn.blocks.zero_head``): an untrained model is its fixed
    base, so the base's validation score is the fresh model's, and the loss is Charbonnier's.
    """

    #: ``vsinr train NAME``
    name: ClassVar[str]
    #: the weights' method (a header's ``method``), and the architectures its loader builds
    method: ClassVar[str]
    family: ClassVar[Sequence[Architecture]]
    summary: ClassVar[str]
    #: named model configurations (``--config``) and the one used when none is given ("": ``check`` picks
    #: one from the other options, as ``config_help`` says)
    configs: ClassVar[Mapping[str, Any]]
    default_config: ClassVar[str]
    config_help: ClassVar[str] = ""
    #: defaults of the entry's own options that differ for this recipe (steps, batch, patch, lr, ...)
    defaults: ClassVar[Mapping[str, Any]] = {}
    #: the fixed validation set: batches of this many samples, this many per source
    val_batch: ClassVar[int] = 8
    val_batches: ClassVar[int] = 1

    def options(self, parser: argparse.ArgumentParser) -> None:
        """Add the recipe's own options."""

    def check(self, args: argparse.Namespace) -> str | None:
        """Why these options cannot work together, or None."""
        return None

    def model(self, args: argparse.Namespace) -> torch.nn.Module:
        """A new, untrained model for the options (``model.config`` is what the weights header records)."""
        raise NotImplementedError

    def batch(self, sources: Sequence[Any], rng: np.random.Generator, size: int, args: argparse.Namespace,
              model: torch.nn.Module, stage: str, validation: bool = False) -> Batch:
        """``size`` samples from ``sources`` (a training stage's, or with ``validation`` the fixed set's);
        inputs first, the target last."""
        raise NotImplementedError

    def predict(self, model: torch.nn.Module, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """The model's output for a batch's inputs."""
        return model(*inputs)

    def loss(self, model: torch.nn.Module, inputs: Sequence[torch.Tensor], output: torch.Tensor,
             target: torch.Tensor, args: argparse.Namespace) -> torch.Tensor:
        return charbonnier(output, target)

    def base(self, args: argparse.Namespace, inputs: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
        """The fixed base's output for a batch's inputs, the reference the log compares with."""
        return self.predict(self.model(args).to(device).eval(), inputs)

    def stages(self, args: argparse.Namespace) -> list[Stage]:
        """The training stages (names go to the log and the checkpoint)."""
        return [Stage(self.name, args.steps, args.lr)]

    def sources(self, args: argparse.Namespace, split: str) -> list[Any]:
        """Where samples come from: real clips and synthetic motion of photos, half and half."""
        return [VideoFolder(args.videos, split), SyntheticMotion(args.photos)]
