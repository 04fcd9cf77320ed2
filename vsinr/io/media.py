"""Getting video in and out of VapourSynth graphs: file sources, PyAV encoding, y4m frameserving.

Files are written to a temporary name beside the target and renamed when complete, so a failed or
interrupted run never leaves a half-written file under the user's name.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np
import vapoursynth as vs

from vsinr.io.files import atomic_path
from vsinr.io.remux import CONTAINERS

_MATRIX_NAMES = {1: "709", 5: "470bg", 6: "170m", 9: "2020ncl"}


def open_source(path: Path) -> vs.VideoNode:
    """A video file as an RGBS clip (bestsource decodes; YUV→RGB with the file's matrix, else BT.709/601)."""
    clip = vs.core.bs.VideoSource(str(path))
    if clip.format.color_family == vs.RGB:
        return vs.core.resize.Point(clip, format=vs.RGBS)
    matrix = clip.get_frame(0).props.get("_Matrix", 2)
    guess = "709" if clip.height > 576 else "170m"
    return vs.core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s=_MATRIX_NAMES.get(int(matrix), guess))


def to_yuv(clip: vs.VideoNode, matrix: str, bits: int = 8) -> vs.VideoNode:
    """RGB → YUV for encoders and y4m (4:2:0 when both sizes are even, else 4:4:4); YUV/GRAY kept."""
    family = clip.format.color_family
    if family == vs.RGB:
        sub = 1 if clip.width % 2 == 0 and clip.height % 2 == 0 else 0
        fmt = vs.core.query_video_format(vs.YUV, vs.INTEGER, bits, sub, sub)
        return vs.core.resize.Bicubic(clip, format=fmt.id, matrix_s=matrix)
    if clip.format.sample_type == vs.FLOAT:  # y4m has no float formats
        return vs.core.resize.Point(clip, format=clip.format.replace(sample_type=vs.INTEGER, bits_per_sample=16).id)
    return clip


def encode(
    clip: vs.VideoNode,
    target: Path,
    *,
    codec: str | None = None,
    crf: int = 16,
    matrix: str = "709",
    progress: Callable[[int], None] | None = None,
) -> None:
    """Encode ``clip`` to ``target`` with PyAV (container from the suffix; ``codec`` None: libx264, or
    rawvideo for ``.y4m``, which holds uncompressed frames only)."""
    import av

    container_format, codec = check_encoder(target, codec)
    if clip.fps == 0:
        raise ValueError("the clip has a variable frame rate; give it one with core.std.AssumeFPS")
    yuv = to_yuv(clip, matrix)
    pix_fmt = "yuv420p" if yuv.format.subsampling_w else "yuv444p"
    options: dict[str, object] = {} if codec in ("ffv1", "rawvideo") else {"crf": str(crf)}
    if codec == "libx265":
        options["x265-params"] = "log-level=error"  # x265 otherwise prints a report on stderr per encode
    with atomic_path(target) as temp:
        with av.open(str(temp), mode="w", format=container_format) as container:
            stream = container.add_stream(codec, rate=Fraction(clip.fps.numerator, clip.fps.denominator))
            assert isinstance(stream, av.VideoStream)  # codec is a video encoder
            stream.width, stream.height, stream.pix_fmt = yuv.width, yuv.height, pix_fmt
            stream.options = options
            stream.time_base = Fraction(clip.fps.denominator, clip.fps.numerator)
            for n, frame in enumerate(yuv.frames()):
                planes = [np.asarray(frame[p]) for p in range(3)]
                if pix_fmt == "yuv420p":
                    array = np.concatenate([planes[0].reshape(-1), planes[1].reshape(-1), planes[2].reshape(-1)])
                    array = array.reshape(yuv.height * 3 // 2, yuv.width)
                else:
                    array = np.stack(planes)
                video_frame = av.VideoFrame.from_ndarray(array, format=pix_fmt)
                video_frame.pts = n
                for packet in stream.encode(video_frame):
                    container.mux(packet)
                if progress:
                    progress(1)
            for packet in stream.encode():
                container.mux(packet)


def check_encoder(target: Path, codec: str | None) -> tuple[str, str]:
    """The muxer and the encoder that write ``target`` (``codec`` None: the default for its suffix), or a
    ``ValueError`` saying what to give instead."""
    import av

    container_format = CONTAINERS.get(target.suffix.lower())
    if container_format is None:
        raise ValueError(f"unknown container {target.suffix!r}; use one of {', '.join(CONTAINERS)}")
    raw_only = container_format == "yuv4mpegpipe"
    codec = codec or ("rawvideo" if raw_only else "libx264")
    if raw_only and codec != "rawvideo":
        raise ValueError(f"a .y4m file holds uncompressed frames only, not {codec}; leave the codec unset "
                         "(or give rawvideo), or write .mkv/.mp4 to compress")
    if codec not in av.codecs_available:
        raise ValueError(f"unknown encoder {codec!r}; try libx264, libx265, libsvtav1, libvpx-vp9 or ffv1")
    return container_format, codec


def run_script(script: Path, args: dict[str, str] | None = None) -> dict[str, Any]:
    """Evaluate a .vpy the way vspipe does (``__name__ == "__vapoursynth__"``, ``-a`` values as globals)."""
    namespace: dict[str, Any] = {"__name__": "__vapoursynth__", "__file__": str(script)}
    namespace.update(args or {})
    code = compile(script.read_text(encoding="utf-8"), str(script), "exec")
    sys.path.insert(0, str(script.parent))
    try:
        exec(code, namespace)
    finally:
        sys.path.remove(str(script.parent))
    return namespace


def write_y4m(clip: vs.VideoNode, stream: IO[bytes], progress: Callable[[int, int], None] | None = None) -> None:
    """Write ``clip`` (YUV or GRAY, integer) as YUV4MPEG2 to a binary stream."""
    clip.output(stream, y4m=True, progress_update=progress)


def clip_from_arrays(frames: Sequence[np.ndarray], fps: Fraction, fmt: int = vs.RGBS) -> vs.VideoNode:
    """An RGB clip (RGBS, or ``fmt``) whose frame n is ``frames[n]`` ((3, H, W) float arrays)."""
    height, width = frames[0].shape[-2:]
    blank = vs.core.std.BlankClip(
        width=width, height=height, format=fmt, length=len(frames), fpsnum=fps.numerator, fpsden=fps.denominator
    )

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), frames[n][p], casting="unsafe")
        return out

    return vs.core.std.ModifyFrame(blank, blank, fill)


def mask_clip(mask: np.ndarray, like: vs.VideoNode) -> vs.VideoNode:
    """A GRAY8 clip as long as ``like`` whose pixels are 255 where ``mask`` is True: (H, W) for every
    frame, or (T, H, W) frame by frame."""
    blank = vs.core.std.BlankClip(like, format=vs.GRAY8, color=0)
    values = np.where(mask, 255, 0).astype(np.uint8)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.copyto(np.asarray(out[0]), values if values.ndim == 2 else values[n])
        return out

    return vs.core.std.ModifyFrame(blank, blank, fill)


def frame_array(frame: vs.VideoFrame) -> np.ndarray:
    """An RGB frame as a (3, H, W) float32 array (a copy)."""
    return np.stack([np.array(frame[p], dtype=np.float32) for p in range(3)])


def read_frames(clip: vs.VideoNode) -> list[np.ndarray]:
    """Every frame of an RGB clip as a (3, H, W) float32 array."""
    return [frame_array(f) for f in clip.frames()]
