"""Splitting a run's output timeline into segments, and the manifest that lets a stopped run resume.

Output frame k of a graph depends only on the source frames its method's windows or chunks read, and
its bytes do not depend on the order in which frames are asked for. So any range of output frames can
be rendered by any process that builds the same graph, and VapourSynth asks the source for exactly the
frames (margins included) that range needs. A segment is such a range, encoded to its own file; the
files are joined by ``vsinr.io.remux``.

Borders fall on scene cuts where there are cuts near the wanted length (a segment then never holds
both sides of a cut), else every ``length`` frames. VapourSynth-free.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from vsinr.io.files import atomic_path

#: ``--segments auto``: about this many segments per worker (so a slow one does not hold up the end),
#: each between these lengths in seconds of output (model load and join cost about a second apiece),
#: and never so long that a worker gets nothing to do.
AUTO_PER_WORKER = 4
AUTO_SECONDS = (10.0, 300.0)
MANIFEST_VERSION = "vsinr-run-manifest/1"


class SegmentError(ValueError):
    """A ``--segments`` value that means nothing, or segment files that cannot be used."""


@dataclass(frozen=True)
class Segment:
    """Output frames ``start`` … ``stop - 1`` of the run, number ``index``."""

    index: int
    start: int
    stop: int

    @property
    def frames(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        return f"{self.index:05d}"


def parse_spec(text: str) -> str | int | float:
    """``--segments``: ``auto``, a count (``8``) or a length in seconds (``30s``, ``90.5s``)."""
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    if re.fullmatch(r"\d+", value) and int(value) > 0:
        return int(value)
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*s", value)
    if match and float(match.group(1)) > 0:
        return float(match.group(1))
    raise SegmentError(f"{text!r} is not auto, a count of segments (8) or a length in seconds (30s)")


def target_length(spec: str | int | float, num_frames: int, fps: Fraction, workers: int) -> float:
    """The wanted segment length in output frames for ``spec`` (see ``parse_spec``)."""
    if isinstance(spec, int):
        return max(1.0, num_frames / spec)
    if isinstance(spec, float):
        return max(1.0, float(spec * fps))
    low, high = (max(1.0, float(seconds * fps)) for seconds in AUTO_SECONDS)
    workers = max(1, workers)
    return max(1.0, min(high, max(min(low, num_frames / workers), num_frames / (AUTO_PER_WORKER * workers))))


def split(num_frames: int, length: float, cuts: list[int] | tuple[int, ...] = ()) -> list[Segment]:
    """Segments of about ``length`` output frames covering ``0 … num_frames - 1``.

    ``cuts`` are output frames that begin a new scene. From each border the next is the cut nearest
    to ``length`` frames on, if one lies between half and one and a half lengths on; else the frame
    ``length`` on, and the last segment takes a tail shorter than half a length. Cuts passed over lie
    inside a segment, so a clip of many short scenes gets segments of several whole scenes, not one
    segment per scene.
    """
    ordered = sorted(c for c in set(cuts) if 0 < c < num_frames)
    borders, start, position = [0], 0, 0.0  # position: where the last border ideally was (no rounding drift)
    while start < num_frames:
        ideal = position + length
        near = [c for c in ordered if position + length / 2 <= c <= position + 1.5 * length and c > start]
        if near:
            end = min(near, key=lambda c: (abs(c - ideal), c))
            position = float(end)
        elif num_frames - position <= 1.5 * length:
            end = num_frames
        else:
            end, position = max(start + 1, round(ideal)), ideal
        borders.append(end)
        start = end
    return [Segment(i, a, b) for i, (a, b) in enumerate(zip(borders, borders[1:], strict=False))]


def cut_borders(source_cuts: list[int], ratio: Fraction, num_frames: int) -> list[int]:
    """The output frames that begin a scene, for source frames ``source_cuts`` that begin one, when
    output frame k sits at source time k / ``ratio`` (``vsinr.serving.timing``): the first output at or after
    the cut's source frame."""
    return sorted({b for s in source_cuts if 0 < (b := math.ceil(s * ratio)) < num_frames})


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (read in blocks: segment files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def identity(path: Path) -> dict[str, Any]:
    """What says a file is unchanged without reading all of it: its size, its modification time and
    the digest of its first and last MiB (a film is not read twice to resume its run)."""
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(1 << 20))
        if stat.st_size > 2 << 20:
            handle.seek(-(1 << 20), os.SEEK_END)
            digest.update(handle.read(1 << 20))
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ends": digest.hexdigest()}


def run_key(description: dict[str, Any]) -> str:
    """A digest of everything that makes a run's frames (input identity, filters, codec...)."""
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Manifest:
    """The state of a segmented run, kept in ``folder/manifest.json`` beside the output.

    ``finished`` maps a segment's index to the SHA-256 of its file; a rerun with the same ``key``
    (input, filters, encoding) skips segments whose file still has that digest, and a rerun with
    another key starts over.
    """

    folder: Path
    key: str
    suffix: str
    segments: list[Segment]
    cuts: list[int] = field(default_factory=list)
    finished: dict[int, str] = field(default_factory=dict)

    @staticmethod
    def folder_for(output: Path) -> Path:
        """Where the segments of a run writing ``output`` are kept: a hidden folder beside it."""
        return output.with_name(f".{output.name}.segments")

    def path(self, segment: Segment) -> Path:
        return self.folder / f"{segment.name}{self.suffix}"

    def save(self) -> None:
        """Write the manifest (whole or not at all)."""
        data = {
            "format": MANIFEST_VERSION, "key": self.key, "suffix": self.suffix, "cuts": self.cuts,
            "segments": [asdict(s) for s in self.segments],
            "finished": {str(index): digest for index, digest in sorted(self.finished.items())},
        }
        target = self.folder / "manifest.json"
        with atomic_path(target) as temp:
            temp.write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, folder: Path, key: str) -> Manifest | None:
        """The manifest in ``folder`` if it belongs to the run ``key`` (None when absent, foreign or damaged)."""
        try:
            data = json.loads((folder / "manifest.json").read_text())
            if data.get("format") != MANIFEST_VERSION or data.get("key") != key:
                return None
            segments = [Segment(int(s["index"]), int(s["start"]), int(s["stop"])) for s in data["segments"]]
            finished = {int(index): str(digest) for index, digest in data["finished"].items()}
            return cls(folder, key, str(data["suffix"]), segments, [int(c) for c in data["cuts"]], finished)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def verified(self) -> list[Segment]:
        """The finished segments whose files are still there with the recorded digest; the others are
        forgotten (a damaged or deleted file is rendered again)."""
        good = []
        for segment in self.segments:
            digest = self.finished.get(segment.index)
            path = self.path(segment)
            if digest is not None and path.is_file() and file_digest(path) == digest:
                good.append(segment)
            else:
                self.finished.pop(segment.index, None)
        return good

    def remove(self) -> None:
        """Delete the folder with its segment files (after a successful join)."""
        shutil.rmtree(self.folder, ignore_errors=True)
