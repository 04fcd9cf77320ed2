"""Joining segment files into one video by remuxing (packets are copied, never re-encoded).

Each segment was encoded on its own with frame n at pts n in a time base of 1/fps. The join gives
every packet the timestamps a single encode of the whole run would have given it (the segment's
first output frame plus the packet's own frame number, in 1/fps) and lets the muxer convert them to
its own time base, so the joined file has the frames, timestamps and rate of a single-process run.
VapourSynth-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from vsinr.io.files import atomic_path

#: Output suffixes and the muxer that writes each.
CONTAINERS = {".mkv": "matroska", ".mp4": "mp4", ".mov": "mov", ".webm": "webm", ".avi": "avi", ".y4m": "yuv4mpegpipe"}


class JoinError(ValueError):
    """A segment file that cannot be joined: unreadable, of another format, or with missing frames."""


def count_frames(path: Path) -> int:
    """The video packets of a file (one per frame for the encoders vsinr writes)."""
    import av

    try:
        with av.open(str(path)) as container:
            return sum(1 for packet in container.demux(video=0) if packet.size)
    except (av.FFmpegError, IndexError) as exc:
        raise JoinError(f"{path} is not a readable video ({exc})") from None


def join(parts: Sequence[tuple[Path, int]], target: Path, rate: Fraction) -> None:
    """Write ``target`` from ``parts`` ((file, frames) in order) at ``rate`` frames per second.

    Every part must hold exactly its frames; anything else (a damaged or truncated file) is a
    ``JoinError`` and ``target`` is left as it was.
    """
    import av

    if not parts:
        raise JoinError("no segments to join")
    unit = Fraction(rate.denominator, rate.numerator)  # one frame, in seconds
    with atomic_path(target) as temp:
        with av.open(str(parts[0][0])) as first:
            template = first.streams.video[0]
            with av.open(str(temp), mode="w", format=CONTAINERS[target.suffix.lower()]) as out:
                stream = out.add_stream_from_template(template)
                stream.time_base = unit
                offset = 0
                for path, frames in parts:
                    offset += _copy(path, frames, offset, unit, rate, template, out, stream)


def _copy(path: Path, frames: int, offset: int, unit: Fraction, rate: Fraction, template: object, out: object,
          stream: object) -> int:
    """Mux the packets of one part at ``offset`` frames; returns its frame count."""
    import av

    seen = 0
    waiting: list[tuple[object, int, int]] = []  # packets whose decoding time the demuxer did not know yet

    def send(packet: object, pts: int, dts: int, duration: int) -> None:
        packet.pts, packet.dts, packet.duration = offset + pts, offset + dts, duration  # type: ignore[attr-defined]
        packet.time_base = unit  # type: ignore[attr-defined]
        packet.stream = stream  # type: ignore[attr-defined]
        out.mux(packet)  # type: ignore[attr-defined]

    try:
        with av.open(str(path)) as part:
            source = part.streams.video[0]
            if (source.codec_context.name, source.width, source.height) != (
                    template.codec_context.name, template.width, template.height):  # type: ignore[attr-defined]
                raise JoinError(f"{path} holds {source.codec_context.name} {source.width}x{source.height}, "
                                "not the format of the first segment")
            for packet in part.demux(source):
                if not packet.size:  # the demuxer's end-of-stream marker
                    continue
                if packet.pts is None or packet.time_base is None:
                    raise JoinError(f"{path}: a packet without a timestamp")
                pts = round(packet.pts * packet.time_base * rate)
                duration = round(packet.duration * packet.time_base * rate) if packet.duration else 0
                if not 0 <= pts < frames:
                    raise JoinError(f"{path}: a frame at {pts}, outside the segment's {frames} frames")
                seen += 1
                if packet.dts is None:  # Matroska stores no decoding times: the first reordered packets lack them
                    waiting.append((packet, pts, duration))
                    continue
                dts = round(packet.dts * packet.time_base * rate)
                for i, (early, early_pts, early_duration) in enumerate(waiting):  # one frame apart, in decoding order
                    send(early, early_pts, dts - len(waiting) + i, early_duration)
                waiting.clear()
                send(packet, pts, dts, duration)
            for early, early_pts, early_duration in waiting:  # never reordered: decoded when shown
                send(early, early_pts, early_pts, early_duration)
    except av.FFmpegError as exc:
        raise JoinError(f"{path} cannot be read ({exc})") from None
    if seen != frames:
        raise JoinError(f"{path} holds {seen} frames, not {frames}: render that segment again")
    return frames
