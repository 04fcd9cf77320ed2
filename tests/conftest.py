"""Shared test helpers: small deterministic clips made by the tests themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from vsinr import media

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def noise_frame(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """The (3, H, W) float32 content of frame n of ``noise_clip``: smooth-ish random colours."""
    rng = np.random.default_rng(seed * 100003 + n)
    return rng.random((3, height, width), dtype=np.float32)


def noise_clip(
    width: int = 32, height: int = 24, length: int = 6, fpsnum: int = 24, fpsden: int = 1,
    fmt: int = vs.RGBS, seed: int = 0,
) -> vs.VideoNode:
    """An RGBS (or RGBH) clip whose frame n is ``noise_frame(n, ...)``."""
    data = [noise_frame(n, height, width, seed) for n in range(length)]
    return media.clip_from_arrays(data, Fraction(fpsnum, fpsden), fmt)


planes = media.frame_array
frames = media.read_frames


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """Run a command of this environment (vsinr, vspipe, python) and capture its output."""
    env = dict(os.environ, **kwargs.pop("env", {}))  # type: ignore[arg-type]
    exe = args[0] if args[0] == sys.executable else str(BIN / args[0])
    return subprocess.run([exe, *args[1:]], capture_output=True, env=env, timeout=300, **kwargs)  # type: ignore[call-overload]


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Linear blend evaluated from the nearer end, the way torch.lerp does."""
    return a + t * (b - a) if t < 0.5 else b - (b - a) * (1 - t)


def training_material(directory: Path) -> tuple[Path, Path]:
    """A folder with one short real-looking clip and one with a photo: what the training scripts read."""
    from PIL import Image
    from test_bench import moving_frames, write_video

    videos, photos = directory / "videos", directory / "photos"
    videos.mkdir()
    photos.mkdir()
    write_video(videos / "slide.mp4", moving_frames(12, height=96, width=128))
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((200, 240, 3)) * 255).astype(np.uint8)).save(photos / "noise.png")
    return videos, photos


def error_of(call) -> str:  # type: ignore[no-untyped-def]
    """The message of the vs.Error that ``call()`` raises (fails the test when it raises none)."""
    with pytest.raises(vs.Error) as info:
        call()
    return str(info.value)


@pytest.fixture
def core() -> vs.Core:
    return vs.core
