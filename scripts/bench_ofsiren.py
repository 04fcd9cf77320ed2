"""OF-SIREN measurements the harness does not make: fitting speed, and the paper's second claim (the flow
term also helps narrow networks fit the observed frames).

    python scripts/bench_ofsiren.py speed bigbuckbunny.mp4 --frames 20 --crop 360x240
    python scripts/bench_ofsiren.py narrow carphone_pristine.mp4 --frames 11

Results go to stderr as they come and, with --json, to a file.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import click
import numpy as np
import torch
from vsinr_ofsiren import engine as E

from vsinr.evaluation import metrics
from vsinr.io import clips
from vsinr.ops.flow import pairs, velocities


def _frames(path: Path, count: int, crop: str | None) -> torch.Tensor:
    frames, _ = clips.load(path, count)
    frames = clips.centre_crop(frames, clips.parse_size(crop) if crop else None)
    return torch.from_numpy(np.stack(frames)).float()


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@click.group()
def main() -> None:
    """OF-SIREN speed and narrow-network measurements."""


@main.command()
@click.argument("clip", type=click.Path(exists=True, path_type=Path))
@click.option("--frames", default=20, show_default=True, help="observed frames")
@click.option("--crop", default="360x240", show_default=True)
@click.option("--preset", default="fast", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path))
def speed(clip: Path, frames: int, crop: str, preset: str, device: str, json_path: Path | None) -> None:
    """Flow time, step time and the whole fit of one chunk."""
    observed = _frames(clip, frames, crop)
    settings = E.PRESETS[preset]
    started = time.perf_counter()
    velocities(*pairs(observed))
    flow_s = time.perf_counter() - started
    started = time.perf_counter()
    E.fit(observed, settings, device, seed=0, log=_say)
    fit_s = time.perf_counter() - started
    result = {"clip": clip.name, "frames": list(observed.shape), "preset": preset, "device": device,
              "threads": torch.get_num_threads(), "flow_s": round(flow_s, 2), "fit_s": round(fit_s, 1),
              "step_ms": round(1000 * (fit_s - flow_s) / settings.steps, 1), "settings": asdict(settings)}
    _say(json.dumps(result))
    if json_path:
        json_path.write_text(json.dumps(result, indent=1) + "\n")


@main.command()
@click.argument("clip", type=click.Path(exists=True, path_type=Path))
@click.option("--frames", default=11, show_default=True, help="observed frames")
@click.option("--crop", default=None)
@click.option("--widths", default="16,32,64", show_default=True)
@click.option("--steps", default=1500, show_default=True)
@click.option("--lam", default=0.05, show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path))
def narrow(clip: Path, frames: int, crop: str | None, widths: str, steps: int, lam: float, json_path: Path | None) -> None:
    """Observed-frame PSNR of one whole-frame SIREN alone (base none), with and without the flow term."""
    observed = _frames(clip, frames, crop)
    rows = []
    for width in (int(w) for w in widths.split(",")):
        for weight in (0.0, lam):
            settings = replace(E.PRESETS["fast"], width=width, layers=6, patch=0, margin=0, base="none",
                               steps=steps, lam=weight)
            state, config = E.fit(observed, settings, "cpu", seed=0)
            net = E.network(state, config, "cpu")
            chunk = E.Chunk(observed, torch.device("cpu"), config["base"])
            out = torch.empty_like(observed[0])
            scores = []
            for t in range(len(observed)):
                E.render(net, config, chunk, float(t), out)
                scores.append(metrics.psnr(out.numpy(), observed[t].numpy()))
            rows.append({"width": width, "lam": weight, "observed_psnr": round(float(np.mean(scores)), 2)})
            _say(json.dumps(rows[-1]))
    if json_path:
        json_path.write_text(json.dumps({"clip": clip.name, "frames": list(observed.shape), "steps": steps,
                                         "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
