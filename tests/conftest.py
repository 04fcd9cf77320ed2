"""Shared test helpers: small deterministic clips made by the tests themselves.

VapourSynth is imported only by the helpers that need it, so the unit layer (``tests/unit``) runs where
it cannot be imported at all: ``tests/run_unit.py`` makes it unimportable in its process and, through
``VSINR_TESTS_WITHOUT_VAPOURSYNTH``, here in each pytest-xdist worker it starts.

Torch runs one thread per process here (``OMP_NUM_THREADS=1`` unless set), in this process and in every
command the tests start: the suite runs in several processes at once (pytest-xdist), and on a small
machine two threads per process contend with each other (a fit then runs several times slower)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported, here or in any subprocess

import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if os.environ.get("VSINR_TESTS_WITHOUT_VAPOURSYNTH"):  # set by tests/run_unit.py, for its pytest-xdist workers too
    sys.modules["vapoursynth"] = None  # type: ignore[assignment]  # every import of it now fails

if TYPE_CHECKING:
    import vapoursynth as vs

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def noise_frame(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """The (3, H, W) float32 content of frame n of ``noise_clip``: smooth-ish random colours."""
    rng = np.random.default_rng(seed * 100003 + n)
    return rng.random((3, height, width), dtype=np.float32)


def noise_clip(
    width: int = 32, height: int = 24, length: int = 6, fpsnum: int = 24, fpsden: int = 1,
    fmt: int | None = None, seed: int = 0,
) -> vs.VideoNode:
    """An RGBS (or, with ``fmt=vs.RGBH``, RGBH) clip whose frame n is ``noise_frame(n, ...)``."""
    import vapoursynth as vs

    from vsinr.io import media

    data = [noise_frame(n, height, width, seed) for n in range(length)]
    return media.clip_from_arrays(data, Fraction(fpsnum, fpsden), vs.RGBS if fmt is None else fmt)


def planes(frame: vs.VideoFrame) -> np.ndarray:
    """A frame's planes as a (3, H, W) array."""
    from vsinr.io import media

    return media.frame_array(frame)


def frames(clip: vs.VideoNode) -> list[np.ndarray]:
    """Every frame of ``clip`` as a (3, H, W) array."""
    from vsinr.io import media

    return media.read_frames(clip)


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """Run a command of this environment (vsinr, vspipe, python) and capture its output."""
    env = dict(os.environ, **kwargs.pop("env", {}))  # type: ignore[arg-type]
    exe = args[0] if args[0] == sys.executable else str(BIN / args[0])
    return subprocess.run([exe, *args[1:]], capture_output=True, env=env, timeout=300, **kwargs)  # type: ignore[call-overload]


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Linear blend evaluated from the nearer end, the way torch.lerp does."""
    return a + t * (b - a) if t < 0.5 else b - (b - a) * (1 - t)


def moving_frames(count: int, height: int = 64, width: int = 96, cut: int | None = None) -> list[np.ndarray]:
    """A smooth texture sliding right by 1 px a frame (its negative after ``cut``)."""
    from vsinr.ops import degrade

    rng = np.random.default_rng(0)
    texture = degrade.imresize(rng.random((3, height // 8, width // 8 + count)).astype(np.float32), 8.0)
    textures = [texture, 1 - texture]
    out = []
    for n in range(count):
        texture = textures[int(cut is not None and n >= cut)]
        out.append(np.clip(texture[:, :height, n : n + width], 0, 1).astype(np.float32))
    return out


def write_video(path: Path, frames: list[np.ndarray], fps: int = 24) -> Path:
    """``frames`` written losslessly (x264 at qp 0, 4:4:4) with PyAV: no VapourSynth needed."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[-2:]
        stream.pix_fmt, stream.options = "yuv444p", {"qp": "0"}
        for frame in frames:
            rgb = (np.clip(frame, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def training_material(directory: Path) -> tuple[Path, Path]:
    """A folder with one short real-looking clip and one with a photo: what the training scripts read."""
    from PIL import Image

    videos, photos = directory / "videos", directory / "photos"
    videos.mkdir()
    photos.mkdir()
    write_video(videos / "slide.mp4", moving_frames(12, height=96, width=128))
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((200, 240, 3)) * 255).astype(np.uint8)).save(photos / "noise.png")
    return videos, photos


def error_of(call: Any) -> str:
    """The message of the vs.Error that ``call()`` raises (fails the test when it raises none)."""
    import vapoursynth as vs

    with pytest.raises(vs.Error) as info:
        call()
    return str(info.value)


@pytest.fixture
def core() -> vs.Core:
    import vapoursynth as vs

    return vs.core


@pytest.fixture(scope="session")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8-frame 48×32 H.264 file of a red band sliding over green (the CLI's input in tests)."""
    import av

    path = tmp_path_factory.mktemp("media") / "small.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for n in range(8):
            rgb = np.zeros((32, 48, 3), np.uint8)
            rgb[:, (n * 5) % 48 :, 0] = 200
            rgb[..., 1] = 80
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
