"""vsinr: implicit-neural-representation video methods as VapourSynth filters.

In a VapourSynth script the functions live in the ``vsinr`` namespace with no import:
``core.vsinr.STVSR(clip, 2, 4)``. From Python, ``vsinr.stvsr(clip, 2, 4)`` is the same call.

Importing this package is cheap: it never imports torch (plugin registration runs in every
VapourSynth process).
"""

from __future__ import annotations

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


def stvsr(clip: vs.VideoNode, sscale: float | None = None, tscale: float | None = None, **kwargs: Any) -> vs.VideoNode:
    """Space-time super-resolution: ``sscale``× width and height, ``tscale``× frame rate.

    Same as ``core.vsinr.STVSR``; keyword arguments (method, fps_num, fps_den, weights, device, tile,
    tile_overlap, sc and method parameters) pass through.
    """
    return _namespace().STVSR(clip, **_given(sscale=sscale, tscale=tscale), **kwargs)


def interpolate(clip: vs.VideoNode, factor: float | None = None, **kwargs: Any) -> vs.VideoNode:
    """Frame interpolation at the source size: ``factor``× frame rate (or exact fps_num/fps_den)."""
    return _namespace().Interpolate(clip, **_given(factor=factor), **kwargs)


def denoise(clip: vs.VideoNode, **kwargs: Any) -> vs.VideoNode:
    """Restoration of noisy or JPEG-damaged video at the source size and rate (e.g. method="zsm",
    degradation="noise")."""
    return _namespace().Denoise(clip, **kwargs)


def inpaint(clip: vs.VideoNode, mask: vs.VideoNode, **kwargs: Any) -> vs.VideoNode:
    """Fill the pixels where the GRAY ``mask`` clip is non-zero (e.g. method="snerv"); the others stay exact."""
    return _namespace().Inpaint(clip, mask, **kwargs)


def decode(path: str, **kwargs: Any) -> vs.VideoNode:
    """The clip stored in a neural-codec file written by ``vsinr encode`` (RGBS, any frame in any order)."""
    return _namespace().Decode(str(path), **kwargs)


def _given(**kwargs: Any) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if value is not None}
