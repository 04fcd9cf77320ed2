"""``vsinr encode`` and ``vsinr decode``: clips stored as neural-codec files and played back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from vsinr.app.cli.group import cli, crop_size, device_option, encode_clip, writing
from vsinr.host import plugins
from vsinr.host.methods import EncodeOptions


def _codec(method: str) -> Any:
    codecs = plugins.codecs()
    if method not in codecs:
        raise click.ClickException(f"method {method!r} is not an installed codec (codecs: {', '.join(codecs) or 'none'})")
    return codecs[method].codec()  # type: ignore[misc]


@cli.command("encode")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--method", default="snerv", show_default=True, help="The neural codec.")
@click.option("--size", default=EncodeOptions.size, show_default=True,
              help="Model size: 0.35M, 0.75M, 1.5M, 3M or a parameter count.")
@click.option("--epochs", default=EncodeOptions.epochs, show_default=True, type=click.IntRange(min=1))
@click.option("--prune", default=EncodeOptions.prune, show_default=True, type=click.FloatRange(0, 0.9),
              help="Share of the decoder's weights pruned by magnitude (the paper: 0.1), then fine-tuned.")
@click.option("--finetune", default=EncodeOptions.finetune, show_default=True, type=click.IntRange(min=0),
              help="Epochs after pruning.")
@click.option("--frames", type=click.IntRange(min=1), help="Only the first N frames.")
@click.option("--crop", metavar="WxH", help="Only the centre WxH of each frame.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def encode_command(input_path: Path, output: Path, method: str, size: str, epochs: int, prune: float, finetune: int,
                   frames: int | None, crop: str | None, device: str) -> None:
    """Fit a neural representation to INPUT and write it as a compressed file."""
    with writing(output):  # taken first: a second encode to OUTPUT stops at once, naming this one
        import numpy as np
        import torch

        from vsinr.io import clips

        codec = _codec(method)
        try:
            arrays, fps = clips.load(input_path, frames)
        except clips.ClipError as exc:
            raise click.ClickException(str(exc)) from None
        try:
            arrays = clips.centre_crop(arrays, crop_size(crop), strict=True)
        except clips.ClipError as exc:
            raise click.BadParameter(f"{exc} of INPUT", param_hint="--crop") from None
        clip = torch.from_numpy(np.stack(arrays)).float().clamp(0, 1)
        options = EncodeOptions(size=size, epochs=epochs, prune=prune, finetune=finetune, device=device_option(device))
        try:
            result = codec.encode(clip, fps, output, options, lambda text: click.echo(text, err=True))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(json.dumps({"output": str(output), **result}))


@cli.command("decode")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--method", default="snerv", show_default=True, help="The neural codec that wrote INPUT.")
@click.option("--codec", "video_codec", default="ffv1", show_default=True, help="libx264, libx265, ffv1, ...")
@click.option("--crf", default=16, show_default=True, type=click.IntRange(0, 51))
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def decode_command(input_path: Path, output: Path, method: str, video_codec: str, crf: int, device: str) -> None:
    """Decode a neural-codec file to a video file (frame by frame: memory does not grow with its length)."""
    with writing(output):  # taken first: a second decode to OUTPUT stops at once, naming this one
        import vapoursynth as vs

        _codec(method)
        try:
            clip = vs.core.vsinr.Decode(str(input_path), method=method, device=device_option(device))
        except vs.Error as exc:
            raise click.ClickException(str(exc)) from None
        encode_clip(clip, output, video_codec, crf)
    click.echo(str(output))
