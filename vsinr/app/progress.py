"""Progress of a run on stderr: a bar over frames and segments with rate and time left, one JSON
object per line for programs that drive vsinr, or nothing.

JSON lines (``--progress json``), at most ``JSON_INTERVAL`` seconds apart and at every segment's end:
``{"event": "progress", "stage": "rendering", "frames": 120, "total_frames": 300, "segments": 2, "total_segments": 5,
"skipped_segments": 1, "fps": 41.2, "elapsed_s": 2.9, "eta_s": 4.4}``; ``"event": "done"`` last.
Skipped segments (finished by an earlier run) count as done but not towards the rate.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO, Any

MODES = ("bar", "json", "quiet")
JSON_INTERVAL = 0.5


class Progress:
    """Counts frames and segments and shows them; thread-safe (workers report from other threads)."""

    def __init__(self, total_frames: int, total_segments: int = 1, mode: str = "bar", stream: IO[str] | None = None,
                 label: str = "rendering"):
        if mode not in MODES:
            raise ValueError(f"progress mode {mode!r}: use one of {', '.join(MODES)}")
        self.total_frames, self.total_segments, self.mode, self.label = total_frames, total_segments, mode, label
        self.stream = stream or sys.stderr
        self.frames = self.segments = self.skipped = self.skipped_frames = 0
        self.start = time.monotonic()
        self._last_json = 0.0
        self._lock = threading.Lock()
        self._bar: Any = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total_frames, desc=label, unit="frame", file=self.stream, dynamic_ncols=True,
                             smoothing=0.1)
            self._show_segments()

    def advance(self, frames: int = 1) -> None:
        """``frames`` more output frames rendered."""
        with self._lock:
            self.frames += frames
            if self._bar is not None:
                self._bar.update(frames)
            self._emit(force=False)

    def segment_done(self, frames_reported: int, frames: int) -> None:
        """A segment of ``frames`` frames finished, ``frames_reported`` of them already counted by ``advance``."""
        with self._lock:
            self.segments += 1
            if frames > frames_reported:
                self.frames += frames - frames_reported
                if self._bar is not None:
                    self._bar.update(frames - frames_reported)
            self._show_segments()
            self._emit(force=True)

    def skip(self, frames: int) -> None:
        """A segment finished by an earlier run: counted as done, not in the rate."""
        with self._lock:
            self.segments += 1
            self.skipped += 1
            self.skipped_frames += frames
            self.frames += frames
            if self._bar is not None:
                self._bar.update(frames)
                self._bar.start_t = time.time()  # tqdm's rate then counts only what this run renders
                self._bar.last_print_n = self._bar.n
            self._show_segments()
            self._emit(force=True)

    def retract(self, frames: int) -> None:
        """Frames of a failed segment attempt, which will be rendered again."""
        with self._lock:
            self.frames = max(0, self.frames - frames)
            if self._bar is not None:
                self._bar.n = self.frames
                self._bar.refresh()

    def note(self, text: str) -> None:
        """A line for the user (through the bar, so it is not overwritten; as an event in JSON mode)."""
        with self._lock:
            if self.mode == "bar" and self._bar is not None:
                self._bar.write(text, file=self.stream)
            elif self.mode == "json":
                self._write({"event": "note", "stage": self.label, "text": text})

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            if self.mode == "json":
                self._write({**self.numbers(), "event": "done"})

    def numbers(self) -> dict[str, Any]:
        """The counts, rate and time left as plain values."""
        elapsed = time.monotonic() - self.start
        rendered = self.frames - self.skipped_frames
        fps = rendered / elapsed if elapsed > 0 else 0.0
        left = self.total_frames - self.frames
        return {
            "event": "progress", "stage": self.label, "frames": self.frames, "total_frames": self.total_frames,
            "segments": self.segments, "total_segments": self.total_segments, "skipped_segments": self.skipped,
            "fps": round(fps, 3), "elapsed_s": round(elapsed, 3), "eta_s": round(left / fps, 1) if fps > 0 else None,
        }

    def _show_segments(self) -> None:
        if self._bar is not None and self.total_segments > 1:
            self._bar.set_postfix_str(f"segments {self.segments}/{self.total_segments}", refresh=False)

    def _emit(self, force: bool) -> None:
        if self.mode != "json":
            return
        now = time.monotonic()
        if force or now - self._last_json >= JSON_INTERVAL:
            self._last_json = now
            self._write(self.numbers())

    def _write(self, record: dict[str, Any]) -> None:
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()
