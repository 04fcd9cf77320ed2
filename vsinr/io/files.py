"""Writing files safely: a user's file is either the old one or the whole new one, never half-written, and
only one process writes it at a time (``output_lock``).

Kept apart from ``vsinr.io.media`` so that code without VapourSynth (training on a rented GPU, weights
conversion) can use it.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: output_lock falls back to O_EXCL and process ids
    fcntl = None  # type: ignore[assignment]


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


class OutputBusy(RuntimeError):
    """Another process that still runs is writing the same output (``output_lock`` refused it)."""

    def __init__(self, target: Path, pid: int | None, command: str | None) -> None:
        self.target, self.pid, self.command = target, pid, command
        holder = "another process" if pid is None else f"process {pid}"
        if pid is not None and command:  # on one line, and short: a message, not a listing
            command = "".join(c if c.isprintable() else repr(c)[1:-1] for c in command)
            holder += f" ({command if len(command) <= 200 else command[:197] + '...'})"
        super().__init__(f"{target} is being written by {holder}; wait for it or stop it")


def lock_path(target: Path) -> Path:
    """The lock file of ``target``: ``.NAME.lock`` beside it."""
    return target.with_name(f".{target.name}.lock")


@contextmanager
def output_lock(target: Path, what: str | None = None, note: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold ``target`` for this process for the block (one writer per output); yields the lock file's path.

    Raises ``OutputBusy`` when a process that still runs holds it, naming that process: its id and
    ``what`` it recorded (by default its command line, ``vsinr run IN -o OUT ...``). A lock left by a
    process that no longer runs (killed) is taken over, with ``note`` told so. Where ``fcntl`` exists the
    lock is an ``flock`` on the lock file, which the kernel releases when its process dies, so a dead holder
    is recognised exactly; elsewhere the file is created with ``O_EXCL`` and its process id tested for
    life. The lock file is removed on exit, and so are folders for ``target`` that were made here and
    stayed empty (a run that failed leaves none).
    """
    lock = lock_path(target)
    made = [folder for folder in (lock.parent, *lock.parent.parents) if not folder.exists()]
    lock.parent.mkdir(parents=True, exist_ok=True)
    record = json.dumps({"pid": os.getpid(), "command": what or _command_line()}).encode()
    fd = None
    try:
        fd = _take_flock(lock, target, record, note) if fcntl is not None else _take_excl(lock, target, record, note)
        yield lock
    finally:
        if fd is not None:
            # removed while still held: whoever opens the name afterwards gets a new file, never this one
            with suppress(OSError):
                lock.unlink()
            os.close(fd)
        for folder in made:  # innermost first; a folder the output or anything else went into stays
            with suppress(OSError):
                folder.rmdir()


def _take_flock(lock: Path, target: Path, record: bytes, note: Callable[[str], None] | None) -> int:
    """Take the ``flock`` of ``lock``; the descriptor that holds it."""
    assert fcntl is not None
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                pid, command = _holder(lock)
            except FileNotFoundError:  # its holder just finished: try again
                continue
            raise OutputBusy(target, pid, command) from None
        except BaseException:
            os.close(fd)
            raise
        # the holder before may have removed the file between this open and the flock: the lock would
        # then be on a file nobody else sees, so start again on the one the name gives now
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        left = os.pread(fd, 65536, 0)  # a record here: its writer was killed (a normal exit removes the file)
        if left and note is not None:
            pid, _ = _parse(left)
            note(f"{target}: taking over the lock left by process {pid if pid is not None else '?'}, "
                 "which no longer runs")
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _take_excl(lock: Path, target: Path, record: bytes, note: Callable[[str], None] | None) -> int:
    """Create ``lock`` exclusively (no ``fcntl``: not Linux or macOS), taking over one whose process is dead."""
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                pid, command = _holder(lock)
            except FileNotFoundError:  # its holder just finished: try again
                continue
            if pid is not None and _alive(pid):  # this process itself included: a second writer all the same
                raise OutputBusy(target, pid, command) from None
            # a dead process's, or no record a second after it was made: its writer died before writing one
            if note is not None:
                note(f"{target}: taking over the lock left by process {pid if pid is not None else '?'}, "
                     "which no longer runs")
            with suppress(FileNotFoundError):
                lock.unlink()
            continue
        try:
            os.write(fd, record)
        except BaseException:
            os.close(fd)
            lock.unlink(missing_ok=True)
            raise
        return fd
    raise OutputBusy(target, None, None)  # taken over and over by others: they are writing it


def _holder(lock: Path) -> tuple[int | None, str | None]:
    """The process id and command line recorded in ``lock``; (None, None) when it holds none. A holder
    writes its record just after taking the lock, so an empty file is read again for a moment."""
    for _ in range(20):
        pid, command = _parse(lock.read_bytes())  # FileNotFoundError: the holder is gone
        if pid is not None:
            return pid, command
        time.sleep(0.05)
    return None, None


def _parse(data: bytes) -> tuple[int | None, str | None]:
    """The process id and command line of a lock file's record; (None, None) when it is not one."""
    try:
        record = json.loads(data)
        pid, command = record["pid"], record.get("command")
    except (ValueError, TypeError, KeyError, AttributeError):  # empty (being written), or not a record
        return None, None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None, None
    return pid, command if isinstance(command, str) else None


def _command_line() -> str:
    """This process's command line as a shell would take it, the program by its name only (``vsinr run ...``)."""
    argv = sys.argv if sys.argv and sys.argv[0] not in ("", "-c") else sys.orig_argv  # python -c: the interpreter's
    if not argv:
        return Path(sys.executable).name
    return shlex.join([Path(argv[0]).name, *argv[1:]])


def remove_stale_parts(target: Path) -> None:
    """Remove ``.NAME.PID.part`` files beside ``target`` whose process no longer runs (what a killed
    write leaves); those of live processes are another write in progress and stay."""
    for part in target.parent.glob(f".{glob.escape(target.name)}.*.part"):
        pid = part.name[len(target.name) + 2 : -len(".part")]
        if pid.isdigit() and not _alive(int(pid)):
            with suppress(OSError):
                part.unlink()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie counts: its parent has not collected it yet)."""
    if sys.platform == "win32":  # there os.kill(pid, 0) would end the process
        return _alive_on_windows(pid)
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        pass
    return True


if sys.platform == "win32":

    def _alive_on_windows(pid: int) -> bool:
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: it exists, and belongs to someone else
        try:
            code = ctypes.c_ulong()
            return not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
