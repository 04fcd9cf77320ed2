"""The one training entry: ``vsinr train RECIPE --videos DIR --photos DIR --run DIR [options]``.

It owns what every recipe (``vsinr.training.recipe``) shares: options, data sources, the fixed
validation set and its one measure (PSNR of the squared error pooled over the set, outputs clamped to
[0, 1]), prefetching, resuming (rerunning the same command continues ``RUN/checkpoint.safetensors``),
``RUN/args.json``, the log (``RUN/log.jsonl``, and stderr) and export: ``--export W.safetensors`` writes
float32 weights only when they validate better than the file already there (measured now, on the same
set), so a shipped file never gets worse; ``--half`` stores them in float16.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vsinr.runtime import weights
from vsinr.training.loop import CHECKPOINT_FILE, Prefetch, Stage, export_if_better, train
from vsinr.training.recipe import Batch, Recipe

#: Seed of the fixed validation set (the same windows in every run of a recipe).
VALIDATION_SEED = 12345


def recipes() -> dict[str, Recipe]:
    """Every installed recipe by name (from the methods' ``MethodSpec.training``)."""
    from vsinr.host import plugins

    found: dict[str, Recipe] = {}
    for method in plugins.methods().values():
        if method.training is not None:
            for recipe in method.training():
                found[recipe.name] = recipe
    return found


def parser_for(recipe: Recipe) -> argparse.ArgumentParser:
    """The options of ``vsinr train NAME``: the entry's, then the recipe's own."""
    parser = argparse.ArgumentParser(prog=f"vsinr train {recipe.name}", description=f"{recipe.summary}\n\n{__doc__}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True, help="a folder of clips (split into train and val)")
    parser.add_argument("--photos", type=Path, required=True, help="a folder of photos (synthetic motion)")
    parser.add_argument("--run", type=Path, required=True, help="the run's folder: checkpoint, args.json, log.jsonl")
    parser.add_argument("--config", default=recipe.default_config or None, choices=sorted(recipe.configs),
                        help=recipe.config_help or f"default: {recipe.default_config}")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=48, help="side of the model's input patch")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0, help="seed of the training batches")
    parser.add_argument("--init", type=Path, help="start a new run from these weights (.safetensors)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="processes making batches ahead")
    parser.add_argument("--seconds", type=float, default=0, help="scale the step count so training takes about this long")
    parser.add_argument("--validate-every", type=int, default=500)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--checkpoint-seconds", type=float, default=60, help="at least this long between checkpoints")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--export", type=Path, help="write the weights here if they validate better than the file there")
    parser.add_argument("--half", action="store_true", help="export in float16 (half the size; float32 otherwise)")
    recipe.options(parser)
    parser.set_defaults(**recipe.defaults)
    return parser


def pooled_psnr(outputs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """PSNR of the squared error pooled over (output, target) pairs, outputs clamped to [0, 1] (the
    validation measure; flat crops would make per-sample PSNR infinite)."""
    total = sum(float(((o.clamp(0, 1).cpu() - t.cpu()) ** 2).sum()) for o, t in outputs)
    count = sum(t.numel() for _, t in outputs)
    return round(10 * math.log10(1 / max(total / count, 1e-12)), 3)


def run(recipe: Recipe, args: argparse.Namespace) -> None:
    """Train (or resume) ``recipe`` with parsed options; export when asked."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True  # batch shapes repeat: let cuDNN pick its fastest algorithms once
    device = torch.device(args.device)
    model = recipe.model(args)
    if args.init and not (args.run / CHECKPOINT_FILE).exists():  # a checkpoint, once there, wins
        state, _ = weights.read(args.init, recipe.method)
        weights.load_into(model, state, str(args.init))
    model.to(device)

    val_rng = np.random.default_rng(VALIDATION_SEED)
    val = [recipe.batch([source], val_rng, recipe.val_batch, args, model, "validation", validation=True)
           for source in recipe.sources(args, "val") for _ in range(recipe.val_batches)]
    with torch.no_grad():
        base = pooled_psnr([(recipe.base(args, _on(b[:-1], device), device), b[-1]) for b in val])

    def score(net: torch.nn.Module) -> float:
        with torch.no_grad():
            return pooled_psnr([(recipe.predict(net, _on(b[:-1], device)), b[-1]) for b in val])

    sources = recipe.sources(args, "train")
    batches = Prefetch(lambda stage, rng: recipe.batch(sources, rng, args.batch, args, model, stage), args.workers)

    def step(net: torch.nn.Module, stage: Stage, rng: np.random.Generator) -> torch.Tensor:
        *inputs, target = _on(batches.get(stage.name, rng), device)  # type: ignore[arg-type]
        return recipe.loss(net, inputs, recipe.predict(net, inputs), target, args)

    args.run.mkdir(parents=True, exist_ok=True)
    (args.run / "args.json").write_text(json.dumps({"recipe": recipe.name} | {k: str(v) for k, v in vars(args).items()},
                                                   indent=1))
    try:
        train(model, recipe.stages(args), step, lambda net: {"psnr": score(net), "base": base}, args.run,
              seed=args.seed, seconds=args.seconds, validate_every=args.validate_every,
              checkpoint_every=args.checkpoint_every, checkpoint_seconds=args.checkpoint_seconds, batch=args.batch)
    finally:
        batches.close()
    if args.export:
        export_if_better(model, args.export, recipe.method, lambda header: _comparable(recipe, model, header, device),
                         score, note=f", base {base}", half=args.half)


def _on(batch: Batch, device: torch.device) -> list[torch.Tensor]:
    return [x.to(device, non_blocking=True) for x in batch]


def _comparable(recipe: Recipe, model: torch.nn.Module, header: Mapping[str, Any], device: torch.device
                ) -> torch.nn.Module | None:
    """A model for an existing weights file's header when it is of the trained model's architecture
    (so that the file can be scored on the same validation set); None otherwise."""
    config = dict(header)
    kind = config.pop("kind", "")
    if kind != getattr(model, "config", {}).get("kind", ""):
        return None
    for architecture in recipe.family:
        if architecture.kind == kind:
            try:
                return architecture.build(config).to(device)
            except (TypeError, ValueError):
                return None
    return None


def main(argv: Sequence[str]) -> None:
    """``vsinr train [RECIPE [options]]``: without a recipe, list the installed ones. RECIPE may also be
    ``MODULE:NAME``, a recipe in ``MODULE.RECIPES`` (for a source tree that is not installed, such as the
    bundle a lent GPU runs: ``python -m vsinr.training.entry vsinr_zsm.training:zsm-flow ...``)."""
    if argv and ":" in argv[0]:
        module, _, name = argv[0].partition(":")
        found = {r.name: r for r in importlib.import_module(module).RECIPES}
        argv = [name, *argv[1:]]
    else:
        found = recipes()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in found:
        lines = [f"  {name:<18} {recipe.summary}" for name, recipe in sorted(found.items())]
        text = "usage: vsinr train RECIPE [options]   (vsinr train RECIPE --help for its options)\n\nrecipes:\n"
        text += "\n".join(lines)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"vsinr train: unknown recipe {argv[0]!r}\n\n{text}", file=sys.stderr)
            sys.exit(2)
        print(text)
        return
    recipe = found[argv[0]]
    parser = parser_for(recipe)
    args = parser.parse_args(list(argv[1:]))
    problem = recipe.check(args)
    if problem:
        parser.error(problem)
    run(recipe, args)


if __name__ == "__main__":
    main(sys.argv[1:])
