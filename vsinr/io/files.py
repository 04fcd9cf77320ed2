"""Writing files safely: a user's file is either the old one or the whole new one, never half-written.

Kept apart from ``vsinr.io.media`` so that code without VapourSynth (training on a rented GPU, weights
conversion) can use it.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` that becomes ``target`` only if the block succeeds.

    The written file is flushed to disk before the rename (and the rename itself where the platform
    can sync a folder), so a crash leaves either the old file or the whole new one. Temporary files
    that killed processes left for the same target are removed first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(target)
    temp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        yield temp
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    with suppress(OSError):
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def remove_stale_parts(target: Path) -> None:
    """Remove ``.NAME.PID.part`` files beside ``target`` whose process no longer runs (what a killed
    write leaves); those of live processes are another write in progress and stay."""
    for part in target.parent.glob(f".{glob.escape(target.name)}.*.part"):
        pid = part.name[len(target.name) + 2 : -len(".part")]
        if pid.isdigit() and not _alive(int(pid)):
            with suppress(OSError):
                part.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        pass
    return True
