"""Can a per-clip fit learn a correction to the flow base that helps at the gap it renders?

    python scripts/probe_interp_correction.py carphone_pristine.mp4 --frames 17
    python scripts/probe_interp_correction.py bigbuckbunny.mp4 --frames 17 --crop 360x240 --train cycle

SNeRV-T and OF-SIREN both correct a motion-compensated blend of two observed frames, fitted on the clip
alone. This probe takes out everything but that question. Even frames are observed and odd frames are
scored, as in the evaluation protocol. A small convolutional network sees the two neighbours moved
along the DIS flow to the in-between time (``vsinr.flow``). It outputs a mixing weight and a residual,
and its last layer starts at zero, so before fitting it renders the flow base. It is fitted in one of
two ways, both from observed frames only:

- ``triplets`` (what SNeRV-T does): observed frame t from observed frames t-1 and t+1, at twice the
  gap it will render;
- ``cycle`` (cycle consistency, Reda et al. 2019): two in-between frames made at the rendered gap are
  interpolated again, and must give the observed frame between them.

It prints the PSNR (RGB) of the scored frames before fitting and as the fit goes on. No VapourSynth.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import click
import torch
from torch import nn

from vsinr.cli import crop_size
from vsinr.flow import intermediate, pairs, warp
from vsinr.training.data import decode


def _candidates(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames ``a`` and ``b`` (3, H, W) moved to the time halfway between them (flow from detached copies)."""
    forward, backward = pairs(torch.stack([a.detach(), b.detach()]).clamp(0, 1))
    to_a, to_b = intermediate(forward, backward, 0.5)
    return warp(a[None], to_a), warp(b[None], to_b)


class Correction(nn.Module):
    """Two moved frames → a per-pixel mix of them plus a residual; starts as the plain (½, ½) blend."""

    def __init__(self, width: int = 32, residual: bool = True):
        super().__init__()
        self.residual = residual
        self.net = nn.Sequential(nn.Conv2d(9, width, 3, padding=1), nn.LeakyReLU(0.1),
                                 nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.1),
                                 nn.Conv2d(width, 4, 3, padding=1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = self.net(torch.cat([a, b, a - b], 1))
        mix = torch.sigmoid(out[:, :1])
        return mix * a + (1 - mix) * b + (out[:, 1:] if self.residual else 0)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return -10 * math.log10(float(((a.clamp(0, 1) - b) ** 2).mean()))


@click.command()
@click.argument("clip", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--frames", default=17, show_default=True, help="The first N frames: even ones observed, odd ones scored.")
@click.option("--crop", default=None, help="Only the centre WxH.")
@click.option("--train", type=click.Choice(["triplets", "cycle"]), default="triplets", show_default=True)
@click.option("--mix-only", is_flag=True, help="Learn the mixing weight only (no residual).")
@click.option("--steps", default=600, show_default=True)
@click.option("--seed", default=0, show_default=True)
def main(clip: Path, frames: int, crop: str | None, train: str, mix_only: bool, steps: int, seed: int) -> None:
    """Fit the correction on CLIP's observed frames; print the scored frames' PSNR as it goes."""
    torch.manual_seed(seed)
    video = torch.from_numpy(decode(clip)[:frames]).permute(0, 3, 1, 2).float() / 255
    if size := crop_size(crop):
        width, height = size
        y0, x0 = (video.shape[-2] - height) // 2, (video.shape[-1] - width) // 2
        video = video[..., y0:y0 + height, x0:x0 + width]
    observed, scored = video[0::2], video[1::2]
    tests = [(_candidates(observed[i], observed[i + 1]), scored[i]) for i in range(len(scored))]
    triplets = [(_candidates(observed[t - 1], observed[t + 1]), observed[t]) for t in range(1, len(observed) - 1)]
    model = Correction(residual=not mix_only)

    def score() -> float:
        with torch.no_grad():
            return sum(_psnr(model(*pair)[0], truth) for pair, truth in tests) / len(tests)

    blend = sum(_psnr((observed[i] + observed[i + 1]) / 2, scored[i]) for i in range(len(scored))) / len(scored)
    print(f"{clip.name}: linear blend {blend:.2f} dB, flow base {score():.2f} dB", file=sys.stderr, flush=True)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    started = time.monotonic()
    for step in range(1, steps + 1):
        if train == "triplets":
            pair, truth = triplets[step % len(triplets)]
            pred = model(*pair)
        else:
            t = step % (len(observed) - 2)
            first = model(*_candidates(observed[t], observed[t + 1]))[0]
            second = model(*_candidates(observed[t + 1], observed[t + 2]))[0]
            pred, truth = model(*_candidates(first, second)), observed[t + 1]
        loss = (pred - truth[None]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % max(1, steps // 6) == 0:
            print(f"step {step}: scored frames {score():.2f} dB ({time.monotonic() - started:.0f} s)",
                  file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
