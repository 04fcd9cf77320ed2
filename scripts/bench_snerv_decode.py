"""SNeRV decoding speed: frames per second of ``compress``'s decoder at a given frame size and model size,
the path ``vsinr decode`` and ``core.vsinr.Decode`` take (one frame per call: random access).

    python scripts/bench_snerv_decode.py --size 1.5M --size 3M --width 1280 --height 720

Speed does not depend on the weights' values, so the model is freshly built (no fit); only its shape
(the size preset at that frame size and clip length) matters. Results go to stderr and, with --json, to
a file.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import torch
from vsinr_snerv import fit, model

from vsinr.runtime.devices import resolve_device


@click.command()
@click.option("--size", "sizes", multiple=True, default=("1.5M", "3M"), show_default=True,
              help="Model size presets or parameter counts (repeatable).")
@click.option("--width", default=1280, show_default=True)
@click.option("--height", default=720, show_default=True)
@click.option("--frames", default=132, show_default=True, help="Clip length the model is sized for.")
@click.option("--repeat", default=8, show_default=True, help="Frames decoded per measurement.")
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", default=2, show_default=True, help="CPU threads (torch.set_num_threads).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
def main(sizes: tuple[str, ...], width: int, height: int, frames: int, repeat: int, device: str, threads: int,
         json_path: Path | None) -> None:
    """Decoding speed of each model size at one frame size."""
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    rows = []
    with torch.inference_mode():
        for size in sizes:
            rows.append(_measure(size, width, height, frames, repeat, dev, threads))
    if json_path is not None:
        json_path.write_text(json.dumps(rows, indent=1) + "\n")


def _measure(size: str, width: int, height: int, frames: int, repeat: int, dev: str, threads: int) -> dict:
    """One size: fps of decoding ``repeat`` frames after a warm-up frame."""
    config = model.sized(height, width, frames, size)
    net = model.SNeRV(config).eval()
    state = fit.representation(net, torch.rand(1, 3, height, width))
    state["embeddings"] = state["embeddings"].expand(repeat, -1, -1, -1).contiguous()
    state["norms"] = state["norms"].expand(repeat, -1).contiguous()
    net = fit.decoder_from(state, net).to(dev)
    fit.render(net, state, 0)  # warm-up: allocations, kernel selection
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for index in range(repeat):
        fit.render(net, state, index).cpu()
    seconds = (time.perf_counter() - start) / repeat
    row = {"size": size, "fc_dim": config.fc_dim, "strides": list(config.strides), "device": dev,
           "threads": threads, "width": width, "height": height, "fps": 1 / seconds,
           "seconds_per_frame": seconds}
    print(f"{size:>6s} fc {config.fc_dim:3d} {dev}: {1 / seconds:.2f} fps ({seconds:.3f} s a frame)",
          file=sys.stderr, flush=True)
    return row


if __name__ == "__main__":
    main()
