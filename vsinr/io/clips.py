"""Clips in and out of files for the CLI, the benchmark harness, training and the scripts: video files
(through VapourSynth for measurements, through PyAV for training), ``.npz`` decoded clips, centre crops
and the ``WxH`` size syntax.

VapourSynth and PyAV are imported only by the function that needs them, so training runs without
VapourSynth and the CLI starts fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from vsinr.io.files import atomic_path

#: A clip decoded ahead of time: array ``frames``, (N, H, W, 3) uint8 RGB (read without PyAV).
DECODED_SUFFIX = ".npz"
#: What counts as a video file when a folder of them is read.
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".ogv", ".m4v", ".y4m", ".mpg", ".ts"})

class ClipError(ValueError):
    """A clip that cannot be read or cut as asked; the message names the file or the size."""


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` as (width, height) of positive integers (``ClipError`` otherwise)."""
    try:
        size = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        size = ()
    if len(size) != 2 or min(size) <= 0:
        raise ClipError(f"{text!r} is not WxH, e.g. 352x288")
    return size[0], size[1]


def load(path: Path, max_frames: int | None = None) -> tuple[list[np.ndarray], Fraction]:
    """A video file's frames as float32 (3, H, W) RGB in [0, 1] (decoded by VapourSynth's bestsource,
    converted with the file's matrix) and its frame rate; only the first ``max_frames`` when given."""
    import vapoursynth as vs

    from vsinr.io import media

    if not path.is_file():
        raise ClipError(f"clip not found: {path}")
    try:
        clip = media.open_source(path)
    except vs.Error as exc:
        raise ClipError(f"cannot read {path}: {exc}") from None
    if clip.fps == 0:
        raise ClipError(f"{path} has a variable frame rate; give it a constant one")
    if max_frames:
        clip = clip[: min(max_frames, clip.num_frames)]
    return media.read_frames(clip), Fraction(clip.fps.numerator, clip.fps.denominator)


def decode(path: Path) -> np.ndarray:
    """All frames of a video (decoded by PyAV) or of a ``.npz`` decoded clip as (N, H, W, 3) uint8 RGB."""
    if path.suffix.lower() == DECODED_SUFFIX:
        with np.load(path) as archive:
            return archive["frames"]
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


def decode_folder(videos: str | Path, out: str | Path) -> list[Path]:
    """Decode every video under ``videos`` to ``out/NAME.npz`` (what ``VideoFolder`` reads without PyAV)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(p for p in Path(videos).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES):
        target = out / f"{path.stem}{DECODED_SUFFIX}"
        with atomic_path(target) as temp, open(temp, "wb") as f:  # a file object: numpy adds no suffix
            np.savez_compressed(f, frames=decode(path))
        written.append(target)
    return written


def centre_window(height: int, width: int, size: tuple[int, int], *, strict: bool = False) -> tuple[slice, slice]:
    """The (rows, columns) of the centre ``size`` (width, height) of a height × width frame. A larger size
    keeps the frame whole, or is a ``ClipError`` when ``strict``."""
    w, h = size
    if strict and (w > width or h > height):
        raise ClipError(f"{w}x{h} is larger than the {width}x{height} frames; give a smaller crop")
    w, h = min(w, width), min(h, height)
    y0, x0 = (height - h) // 2, (width - w) // 2
    return slice(y0, y0 + h), slice(x0, x0 + w)


def centre_crop(frames: Sequence[np.ndarray], size: tuple[int, int] | None, *, strict: bool = False) -> list[np.ndarray]:
    """The centre ``size`` (width, height) of every (C, H, W) frame; None keeps them whole."""
    if size is None or not frames:
        return list(frames)
    height, width = frames[0].shape[-2:]
    rows, cols = centre_window(height, width, size, strict=strict)
    return [np.ascontiguousarray(f[:, rows, cols]) for f in frames]
