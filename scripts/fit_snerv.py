"""Fit SNeRV-B to one clip as the paper's regression experiment does, and report the PSNR it reaches.

    python scripts/fit_snerv.py bigbuckbunny.mp4 --crop 1280x640 --size 3M --epochs 300 \
        --device cuda -o bunny.safetensors --json bunny.json     # the paper's Bunny (a GPU job)
    python scripts/fit_snerv.py bigbuckbunny.mp4 --crop 1280x640 --scale 4 --size 187500 \
        -o bunny_small.safetensors --vsnerv bunny_small.vsnerv   # a CPU stand-in: 1/16 of pixels and parameters

It needs neither VapourSynth nor numba, so a rented GPU machine with torch alone runs it: the clip is a
video (decoded with PyAV) or a ``.npz`` decoded clip (``vsinr.io.clips.decode_folder``). The fitted
representation (decoder, embeddings, [min, max]; fp32) goes to ``-o`` as safetensors with its
configuration; the fit checkpoints beside it and resumes when run again with the same arguments, so a
long fit can span several calls, and a finished ``-o`` is reused instead of fitted again. ``--vsnerv``
also quantises it into a ``.vsnerv`` file (what ``vsinr encode`` writes) and measures that file.
PSNR is RGB, per frame, averaged over frames: ``psnr`` on the unclamped output, as the paper computes it,
``psnr_clamped`` on the output clamped to [0, 1], as a decoded file gives. Progress goes to stderr.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import click
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from vsinr_snerv.fit import decoder_from, fit_clip, render
from vsinr_snerv.model import Config, SNeRV, total_parameters

from vsinr.evaluation.metrics import bits_per_pixel
from vsinr.io import clips
from vsinr.io.files import atomic_path
from vsinr.runtime.devices import resolve_device


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load(path: Path, frames: int | None, crop: tuple[int, int] | None, scale: int) -> torch.Tensor:
    """The clip as (T, 3, H, W) in [0, 1]: the first ``frames``, the centre ``crop`` (w, h), then shrunk
    ``scale`` times per side with torch's antialiased bicubic and rounded to 8 bits (how
    docs/snerv.md's reduced-size Bunny was made)."""
    video = clips.decode(path)[:frames]
    if not len(video):
        raise click.BadParameter(f"{path} holds no frames", param_hint="CLIP")
    clip = torch.from_numpy(video).permute(0, 3, 1, 2)
    if crop is not None:
        try:
            rows, cols = clips.centre_window(clip.shape[-2], clip.shape[-1], crop, strict=True)
        except clips.ClipError as exc:
            raise click.BadParameter(str(exc), param_hint="--crop") from None
        clip = clip[..., rows, cols]
    clip = clip.float() / 255
    if scale > 1:
        size = (clip.shape[-2] // scale, clip.shape[-1] // scale)
        clip = torch.cat([F.interpolate(part, size=size, mode="bicubic", antialias=True, align_corners=False)
                          for part in clip.split(16)]).clamp(0, 1)
        clip = (clip * 255).round() / 255  # as a decoded 8-bit clip would be
    return clip.contiguous()


@click.command()
@click.argument("clip", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The fitted representation (.safetensors); its fitting checkpoint lies beside it until the end.")
@click.option("--vsnerv", type=click.Path(dir_okay=False, path_type=Path), help="Also write and measure a .vsnerv file.")
@click.option("--crop", default=None, help="Only the centre WxH (the paper's Bunny: 1280x640).")
@click.option("--scale", default=1, show_default=True, type=click.IntRange(1), help="Shrink each side this many times after cropping.")
@click.option("--frames", default=None, type=click.IntRange(1), help="Only the first N frames.")
@click.option("--size", default="3M", show_default=True, help="Model size: 0.35M, 0.75M, 1.5M, 3M or a parameter count.")
@click.option("--epochs", default=300, show_default=True, type=click.IntRange(1))
@click.option("--fps", default="25", show_default=True, help="Frame rate written in the .vsnerv header.")
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", default=0, type=click.IntRange(0), help="CPU threads (0: torch's default).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
def main(clip: Path, output: Path, vsnerv: Path | None, crop: str | None, scale: int, frames: int | None, size: str,
         epochs: int, fps: str, device: str, threads: int, json_path: Path | None) -> None:
    """Fit SNeRV-B to CLIP, keep it in OUTPUT and report its PSNR."""
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    if dev.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # one frame size throughout, as the official training
    video = load(clip, frames, clips.parse_size(crop) if crop else None, scale)
    count, _, height, width = video.shape
    _say(f"{clip.name}: {count} frames of {width}x{height}, size {size}, {epochs} epochs on {dev}")
    started = time.monotonic()
    fitted = not output.is_file()
    if not fitted:
        with safe_open(output, "pt") as stored:
            state = {name: stored.get_tensor(name) for name in stored.keys()}
            config = Config.from_json(json.loads(stored.metadata()["config"]))
        _say(f"{output} exists: measuring it, not fitting again")
    else:
        state, config = fit_clip(video, size=size, epochs=epochs, device=dev, log=_say,
                                 checkpoint=output.with_name(f".{output.name}.fitting.safetensors"))
        with atomic_path(output) as temp:
            save_file({k: v.contiguous() for k, v in state.items()}, str(temp), metadata={"config": json.dumps(config.to_json())})
    seconds = time.monotonic() - started
    model = decoder_from(state, SNeRV(config)).to(dev)
    decoded = [render(model, state, i).cpu() for i in range(count)]
    row = {"clip": clip.name, "frames": count, "width": width, "height": height, "crop": crop, "scale": scale,
           "size": size, "parameters": total_parameters(config, count), "fc_dim": config.fc_dim,
           "strides": list(config.strides), "epochs": epochs, "device": dev,
           "device_name": torch.cuda.get_device_name(dev) if dev.startswith("cuda") else "cpu",
           "psnr": _psnr(decoded, video), "psnr_clamped": _psnr((d.clamp(0, 1) for d in decoded), video),
           "fit_seconds": seconds if fitted else None}
    _say(f"PSNR {row['psnr']:.2f} dB unclamped, {row['psnr_clamped']:.2f} dB clamped; {seconds:.0f} s")
    if vsnerv is not None:
        from vsinr_snerv.compress import open_file, write  # (the entropy coder needs numba)

        write(vsnerv, state, config, Fraction(fps))
        opened = open_file(vsnerv)
        size_bytes = vsnerv.stat().st_size
        row |= {"file_bytes": size_bytes, "file_bpp": bits_per_pixel(size_bytes, width, height, count),
                "file_psnr": _psnr((opened.frame(i) for i in range(count)), video)}
        _say(f"{vsnerv}: {row['file_bytes']} bytes, {row['file_bpp']:.4f} bpp, PSNR {row['file_psnr']:.2f} dB")
    if json_path is not None:
        with atomic_path(json_path) as temp:
            temp.write_text(json.dumps(row, indent=1) + "\n")


def _psnr(decoded: Iterable[torch.Tensor], frames: torch.Tensor) -> float:
    """Mean over frames of the RGB PSNR (peak 1) of each decoded frame against its source frame."""
    values = [-10 * math.log10(float(((d - f) ** 2).mean()) + 1e-9) for d, f in zip(decoded, frames, strict=True)]
    return sum(values) / len(values)


if __name__ == "__main__":
    main()
