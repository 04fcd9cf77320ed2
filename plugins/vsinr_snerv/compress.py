"""SNeRV as a video codec: fit, optionally prune, quantise and entropy-code to a ``.vsnerv`` file; decode
any frame of such a file directly.

What is stored: the decoder and LL-head weights at 8 bits, each frame's embedding and its LL [min, max]
at 6 bits (``vsinr_snerv.vsnerv.quantise`` chooses per tensor or per axis, whichever is more accurate). The frames
a file decodes to are exactly those of the quantised model in memory at the end of ``encode``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vsinr.evaluation import metrics
from vsinr.runtime import weights
from vsinr_snerv.fit import decoder_from, fit_clip, render
from vsinr_snerv.model import EMBED, Config, SNeRV
from vsinr_snerv.vsnerv import CodecError, container

FORMAT = "snerv-b"
MODEL_BITS, EMBED_BITS = 8, 6


def _bits(name: str) -> int:
    return EMBED_BITS if name in ("embeddings", "norms") else MODEL_BITS


def _arrays(state: dict[str, torch.Tensor]) -> dict[str, tuple[np.ndarray, int]]:
    return {name: (value.float().numpy(), _bits(name)) for name, value in state.items()}


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    # the same conversion for the file's arrays and the in-memory ones, so both decode bit for bit
    return {name: torch.from_numpy(np.array(value, dtype=np.float32, order="C")) for name, value in arrays.items()}


@dataclass
class Encoded:
    path: Path
    bytes: int
    bpp: float
    psnr: float  # of the decoded (quantised) frames against the source, RGB, mean over frames
    psnr_fitted: float  # of the model before quantisation
    config: Config


def encode(frames: torch.Tensor, fps: Fraction, path: Path, *, size: str | float, epochs: int,
           prune_share: float = 0.0, finetune: int = 0, device: str = "cpu", seed: int = 1,
           log: Callable[[str], None] = lambda text: None) -> Encoded:
    """Fit SNeRV-B to ``frames`` (T, 3, H, W) in [0, 1] and write it to ``path``.

    ``prune_share`` > 0 zeroes that share of the decoder weights by magnitude after fitting and
    fine-tunes ``finetune`` epochs with them held at zero (the paper uses 10%).
    """
    # the fit's checkpoint lies beside the output, so an interrupted encode resumes when run again
    checkpoint = path.with_name(f".{path.name}.fitting.safetensors")
    state, config = fit_clip(frames, size=size, epochs=epochs, prune_share=prune_share, finetune=finetune,
                             device=device, seed=seed, log=log, checkpoint=checkpoint)
    model = decoder_from(state, SNeRV(config))
    fitted = _mean_psnr((render(model, state, i).clamp(0, 1) for i in range(len(frames))), frames)
    write(path, state, config, fps)
    clip = open_file(path)
    psnr = _mean_psnr((clip.frame(i) for i in range(len(frames))), frames)
    n_bytes = path.stat().st_size
    height, width = config.size
    return Encoded(path, n_bytes, metrics.bits_per_pixel(n_bytes, width, height, len(frames)), psnr, fitted, config)


def write(path: Path, state: dict[str, torch.Tensor], config: Config, fps: Fraction) -> None:
    """Quantise and entropy-code a representation into a ``.vsnerv`` file (atomically)."""
    height, width = config.size
    info = {"format": FORMAT, "frames": len(state["embeddings"]), "size": [height, width],
            "fps": [fps.numerator, fps.denominator], "model": config.to_json()}
    container.save(path, info, _arrays(state))


def quantised_frames(state: dict[str, torch.Tensor], config: Config) -> torch.Tensor:
    """The frames the quantised ``state`` gives in memory (what its file must decode to)."""
    stored = _tensors(container.quantised(_arrays(state)))
    model = decoder_from(stored, SNeRV(config))
    return torch.stack([render(model, stored, i).clamp(0, 1) for i in range(len(stored["embeddings"]))])


def _mean_psnr(decoded: Iterable[torch.Tensor], frames: torch.Tensor) -> float:
    """Mean RGB PSNR of decoded frames against the source frames."""
    return float(np.mean([metrics.psnr(d.numpy(), f.float().numpy()) for d, f in zip(decoded, frames, strict=True)]))


class DecodedClip:
    """A ``.vsnerv`` file opened for decoding: any frame, in any order."""

    def __init__(self, path: Path, info: dict[str, Any], state: dict[str, torch.Tensor], device: str = "cpu"):
        self.path = path
        try:
            self.num_frames = _count(info["frames"], "frames", MAX_FRAMES)
            self.height, self.width = (_count(v, "size", MAX_SIDE) for v in info["size"])
            num, den = (_count(v, "fps", MAX_RATE_TERM) for v in info["fps"])
            self.fps = Fraction(num, den)
            config = Config.from_json(info["model"])
            if info.get("format") != FORMAT or config.size != (self.height, self.width):
                raise ValueError(f"format {info.get('format')!r} or size {config.size} is not this clip's")
            _check_config(config)
        except (KeyError, TypeError, ValueError) as exc:  # a header that checks out but describes no clip
            raise CodecError(f"{path}: the file's clip description is not usable ({_reason(exc)})") from None
        _check_tensors(path, config, state, self.num_frames)
        try:
            self.model = decoder_from(state, SNeRV(config)).to(device)
        except Exception as exc:
            raise CodecError(f"{path}: the file's model description is not usable ({_reason(exc)})") from exc
        self.state = state

    def frame(self, index: int) -> torch.Tensor:
        """Frame ``index`` as (3, H, W) in [0, 1]."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f"{self.path} has {self.num_frames} frames; there is no frame {index}")
        return render(self.model, self.state, index).clamp(0, 1)


# What a .vsnerv file may declare (far above any real clip, far below what would abort a host).
MAX_SIDE = 16384
MAX_FRAMES = 1 << 24
MAX_RATE_TERM = (1 << 31) - 1


def _count(value: Any, what: str, limit: int) -> int:
    """A positive integer field of the header, at most ``limit``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
        raise ValueError(f"{what} holds {value!r}, not a whole number from 1 to {limit}")
    return value


def _check_config(config: Config) -> None:
    """The model the header describes is one ``model.sized`` makes: five strides from 1 to 8, a bounded
    width, and the working size twice the embedding's times the strides (the LL band is half-size)."""
    stretch = math.prod(config.strides)
    if len(config.strides) != 5 or not all(1 <= s <= 8 for s in config.strides):
        raise ValueError(f"strides {list(config.strides)} are not five from 1 to 8")
    if not 1 <= config.fc_dim <= 4096:
        raise ValueError(f"fc_dim {config.fc_dim} is not from 1 to 4096")
    if not all(1 <= e <= MAX_SIDE for e in config.embed_size) or config.padded != tuple(
            2 * e * stretch for e in config.embed_size) or any(p < s for p, s in zip(config.padded, config.size, strict=True)):
        raise ValueError(f"embedding {list(config.embed_size)}, strides and working size {list(config.padded)} disagree")


def _reason(exc: BaseException) -> str:
    return f"no field {exc}" if isinstance(exc, KeyError) else str(exc)


def _check_tensors(path: Path, config: Config, state: dict[str, torch.Tensor], frames: int) -> None:
    """The tensors have exactly the shapes the header's model needs (checked on the meta device, where
    nothing is allocated): a header cannot make us build a model larger than the file's own tensors."""
    with torch.device("meta"):
        shell = SNeRV(config)
    expected = {k: v for k, v in shell.state_dict().items() if not k.startswith("encoder.")}
    eh, ew = config.embed_size
    expected["embeddings"] = torch.empty(frames, EMBED, eh, ew, device="meta")
    expected["norms"] = torch.empty(frames, 2, device="meta")
    try:
        weights.check(expected, state, str(path))
    except weights.WeightsError as exc:
        raise CodecError(str(exc)) from None


def open_file(path: Path, device: str = "cpu") -> DecodedClip:
    """Open a ``.vsnerv`` file (``CodecError`` if it is missing, foreign, damaged or unusable)."""
    info, arrays = container.load(path)
    return DecodedClip(Path(path), info, _tensors(arrays), device)
