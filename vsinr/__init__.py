"""vsinr: implicit-neural-representation video methods as VapourSynth filters.

In a VapourSynth script the functions live in the ``vsinr`` namespace with no import:
``core.vsinr.STVSR(clip, 2, 4)``. From Python, ``vsinr.stvsr(clip, 2, 4)`` is the same call.

Importing this package is cheap: it never imports torch (plugin registration runs in every
VapourSynth process).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["__version__", "decode", "denoise", "inpaint", "interpolate", "stvsr"]


def _namespace() -> Any:
    import vapoursynth as vs

    try:
        return vs.core.vsinr
    except AttributeError:
        raise RuntimeError(
            "the vsinr VapourSynth plugin is not loaded: reinstall vsinr (pip install -e .) so that "
            "libvsinr.so lands in vapoursynth.get_plugin_dir()"
        ) from None


def stvsr(clip: vs.VideoNode, sscale: float = 1.0, tscale: float | None = None, *, method: str = "", fps_num: int = 0,
          fps_den: int = 1, weights: str = "", device: str = "auto", sc: bool = True, **params: Any) -> vs.VideoNode:
    """Space-time super-resolution: ``sscale``× width and height, ``tscale``× frame rate (None: 1, or
    the rate ``fps_num``/``fps_den`` gives).

    ``method``: empty for the best installed method at these scales (``vsinr list-plugins``).
    ``fps_num``/``fps_den``: an exact output rate instead of ``tscale``. ``weights``: a .safetensors or
    official checkpoint instead of the method's bundled one. ``device``: auto, cpu, cuda or cuda:N.
    ``sc``: never blend across a scene change. ``params``: the
    method's own parameters (e.g. ``precision="fp16"``, ``kernel="bicubic"``).
    Same as ``core.vsinr.STVSR``.
    """
    return _call("STVSR", clip, sscale=sscale, tscale=tscale, method=method, fps_num=fps_num, fps_den=fps_den,
                 weights=weights, device=device, sc=sc, **params)


def interpolate(clip: vs.VideoNode, factor: float | None = None, *, method: str = "", fps_num: int = 0, fps_den: int = 1,
                weights: str = "", device: str = "auto", sc: bool = True, **params: Any) -> vs.VideoNode:
    """Frame interpolation at the source size: ``factor``× frame rate (None: 2, or exactly ``fps_num/fps_den``);
    source frames stay exact. Other arguments as for ``stvsr``. Same as ``core.vsinr.Interpolate``."""
    return _call("Interpolate", clip, factor=factor, method=method, fps_num=fps_num, fps_den=fps_den,
                 weights=weights, device=device, sc=sc, **params)


def denoise(clip: vs.VideoNode, *, method: str = "", weights: str = "", device: str = "auto",
            **params: Any) -> vs.VideoNode:
    """Restoration of noisy or JPEG-damaged video at the source size and rate (e.g. ``method="zsm",
    degradation="jpeg"``). Other arguments as for ``stvsr``. Same as ``core.vsinr.Denoise``."""
    return _call("Denoise", clip, method=method, weights=weights, device=device, **params)


def inpaint(clip: vs.VideoNode, mask: vs.VideoNode, *, method: str = "", weights: str = "", device: str = "auto",
            sc: bool = True, dilate: int = 0, **params: Any) -> vs.VideoNode:
    """Fill the pixels where the GRAY ``mask`` clip (as long as ``clip``, or one frame for all; 8-16 bit
    or float) is non-zero, after growing it by ``dilate`` pixels; the others stay exact. Other arguments
    as for ``stvsr``. Same as ``core.vsinr.Inpaint``."""
    return _call("Inpaint", clip, mask, method=method, weights=weights, device=device, sc=sc, dilate=dilate, **params)


def decode(path: str | os.PathLike[str], *, method: str = "", device: str = "auto") -> vs.VideoNode:
    """The clip stored in a neural-codec file written by ``vsinr encode`` (RGBS, any frame in any order);
    ``method``: the codec, when the file's suffix does not say. Same as ``core.vsinr.Decode``."""
    return _namespace().Decode(os.fspath(path), method=method, device=device)


def _call(function: str, *clips: vs.VideoNode, **args: Any) -> vs.VideoNode:
    """Call ``core.vsinr.<function>``; arguments left at None are not passed (their defaults apply)."""
    given = {key: int(value) if isinstance(value, bool) else value for key, value in args.items() if value is not None}
    return getattr(_namespace(), function)(*clips, **given)
