"""The graph ``vsinr run`` renders: the input file, a frame limit, scene-cut marks, a mask, the filters.

A ``Job`` describes it in plain values, so every worker of a segmented run (a process on this machine,
a Ray task on another) builds the same graph from the same description and renders the same frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import vapoursynth as vs

from vsinr.app import filterspec, scenes
from vsinr.io import media


class GraphError(ValueError):
    """A job whose graph cannot be built; ``option`` names the command-line option at fault, if one is."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class Job:
    """What a run renders and how it is encoded."""

    input: str
    filters: tuple[str, ...] = ()
    frames: int | None = None
    mask: str | None = None
    scene_threshold: float = scenes.THRESHOLD
    codec: str | None = None
    crf: int = 16

    def describe(self) -> dict[str, Any]:
        """The job as plain values, with the identity of every file it reads (for ``segments.run_key``)."""
        from vsinr.app import segments

        files = {value: segments.identity(Path(value)) for value in (self.input, self.mask, *_paths(self.filters))
                 if value and Path(value).is_file()}
        return {**asdict(self), "files": files}


def _paths(specs: tuple[str, ...]) -> list[str]:
    """String arguments of the filters that name files (weights=...), whose contents change the frames."""
    found = []
    for text in specs:
        try:
            call = filterspec.parse(text)
        except ValueError:
            continue
        found += [v for v in (*call.args, *call.kwargs.values()) if isinstance(v, str) and Path(v).expanduser().is_file()]
    return found


_forwarding: list[object] = []


def forward_log(mode: str) -> None:
    """Show this process's VapourSynth messages on stderr: warnings and worse, and the notes of vsinr's
    own filters ("Interpolate: ofsiren: fitting frames 0-7"); as plain lines (``mode`` "bar"), JSON
    objects (``"json"``: ``{"event": "log", "level": "information", "text": ...}``) or not at all."""
    import json
    import sys

    from vsinr.serving.tasks import FUNCTIONS

    if mode == "quiet" or _forwarding:
        return
    ours = tuple(f"{function.name}: " for function in FUNCTIONS.values()) + ("Decode: ",)

    def handler(level: vs.MessageType, message: str) -> None:
        if level < vs.MESSAGE_TYPE_WARNING and not message.startswith(ours):
            return
        if mode == "json":
            name = vs.MessageType(level).name.removeprefix("MESSAGE_TYPE_").lower()
            sys.stderr.write(json.dumps({"event": "log", "level": name, "text": message}) + "\n")
        else:
            sys.stderr.write(message + "\n")
        sys.stderr.flush()

    _forwarding.append(vs.core.add_log_handler(handler))


def source(job: Job) -> vs.VideoNode:
    """The input as RGBS, cut to ``job.frames``, before the scene marks."""
    try:
        clip = media.open_source(Path(job.input))
    except vs.Error as exc:
        raise GraphError(f"cannot open {job.input}: {exc}") from None
    declared = declared_frames(Path(job.input))
    if declared > clip.num_frames and (job.frames is None or job.frames > clip.num_frames):
        raise GraphError(f"{job.input}: its header says {declared} frames but only {clip.num_frames} can be decoded "
                         f"(a truncated or damaged file); give --frames {clip.num_frames} to use those")
    return clip[: min(job.frames, clip.num_frames)] if job.frames else clip


def declared_frames(path: Path) -> int:
    """The frame count an MP4/MOV file's header states, 0 for other files: Matroska and y4m state none,
    and AVI counts the hidden frames of VP8/VP9 (an AVI said to hold 300 frames shows 295)."""
    import av

    try:
        with av.open(str(path)) as container:
            if "mp4" not in container.format.name.split(","):
                return 0
            return int(container.streams.video[0].frames or 0)
    except (av.FFmpegError, IndexError):
        return 0


def build(job: Job) -> vs.VideoNode:
    """The clip ``job`` renders."""
    clip = scenes.mark(source(job), job.scene_threshold)
    mask = open_mask(Path(job.mask), clip.num_frames) if job.mask else None
    return apply(clip, job.filters, mask)


def apply(clip: vs.VideoNode, specs: tuple[str, ...], mask: vs.VideoNode | None = None) -> vs.VideoNode:
    """``clip`` through the filters named in ``specs``; ``mask`` goes to those that take one (Inpaint)."""
    namespace = getattr(vs.core, "vsinr", None)
    if namespace is None:
        raise GraphError("the vsinr VapourSynth plugin is not loaded; reinstall vsinr (make setup)")
    used = False
    for text in specs:
        try:
            call = filterspec.parse(text)
        except ValueError as exc:
            raise GraphError(str(exc), "--filter") from None
        function = getattr(namespace, call.name, None)
        if function is None:
            available = ", ".join(f.name for f in namespace.functions() if f.name != "Version")
            raise GraphError(f"no function {call.name!r}; available: {available}", "--filter")
        kwargs = dict(call.kwargs)
        if mask is not None and "mask:vnode" in function.signature and "mask" not in kwargs:
            kwargs["mask"], used = mask, True
        try:
            clip = function(clip, *call.args, **kwargs)
        except vs.Error as exc:
            raise GraphError(str(exc)) from None
        except (TypeError, ValueError) as exc:  # VapourSynth could not convert an argument to its type
            raise GraphError(f"{text}: {exc}", "--filter") from None
    if mask is not None and not used:
        raise GraphError("none of the filters takes a mask (give e.g. --filter 'Inpaint()')", "--mask")
    return clip


def open_mask(path: Path, frames: int) -> vs.VideoNode:
    """A mask video or image as a binary GRAY8 clip, at most ``frames`` long: pixels whose green channel
    (after ``media.open_source``'s conversion to RGB) is above mid-grey are filled. Binarising keeps a
    lossily compressed mask's near-black noise out of the holes."""
    try:
        clip = media.open_source(path)
    except vs.Error as exc:
        raise GraphError(f"cannot open the mask {path}: {exc}", "--mask") from None
    gray = vs.core.std.ShufflePlanes(clip, 1, vs.GRAY)  # (masks are grey, so any plane; G carries most luma)
    mask = vs.core.std.Expr(gray, "x 0.5 > 255 0 ?", format=vs.GRAY8)
    return mask[: min(frames, mask.num_frames)] if mask.num_frames > 1 else mask
