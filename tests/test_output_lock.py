"""One writer per output (``vsinr.io.files.output_lock``): ``vsinr run`` (plain and segmented), ``encode`` and
``decode`` hold their output; a second writer stops at once naming the first; a lock left by a killed run is
taken over, and the killed segmented run then resumes to the one-process file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import BIN, run
from test_segmented import SOURCE_FRAMES, _same, _wait_for_a_segment

from vsinr.io import files
from vsinr.io.files import OutputBusy, output_lock

HOLDER = """
import sys
from pathlib import Path
from vsinr.io.files import output_lock
with output_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def _holder(out: Path) -> subprocess.Popen[bytes]:
    """A process that holds the lock on ``out`` until its stdin closes."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"held\n"
    return process


def _dead_pid() -> int:
    """A process id that no longer runs, as a killed run's."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


def _record(lock: Path) -> dict[str, object]:
    return json.loads(lock.read_text())


def test_a_second_holder_is_refused_naming_the_first_and_a_killed_ones_lock_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    holder = _holder(out)
    try:
        with pytest.raises(OutputBusy) as busy, output_lock(out):
            pass
    finally:
        holder.kill()  # SIGKILL: no cleanup, the lock file stays with its record
        holder.wait()
    message = str(busy.value)
    assert busy.value.pid == holder.pid and message.startswith(f"{out} is being written by process {holder.pid} (python")
    assert message.endswith("); wait for it or stop it") and "\n" not in message and len(message) < len(str(out)) + 280
    lock = tmp_path / ".out.mkv.lock"
    assert _record(lock)["pid"] == holder.pid
    notes: list[str] = []
    with output_lock(out, note=notes.append) as held:
        assert held == lock and _record(lock) == {"pid": os.getpid(), "command": files._command_line()}
        with pytest.raises(OutputBusy, match=f"process {os.getpid()} "):  # this process, a second time: refused too
            with output_lock(out):
                pass
    assert notes == [f"{out}: taking over the lock left by process {holder.pid}, which no longer runs"]
    assert list(tmp_path.iterdir()) == []
    released = _holder(out)
    released.communicate(b"")  # a holder that ends normally removes its lock: the next one takes it silently
    with output_lock(out, what="vsinr run a -o out.mkv", note=notes.append):
        assert _record(lock)["command"] == "vsinr run a -o out.mkv"
    assert len(notes) == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["flock", "excl"])
def test_lock_files_of_dead_processes_are_taken_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     kind: str) -> None:
    """``flock`` (Linux, macOS) and the ``O_EXCL`` fallback where ``fcntl`` is missing (Windows)."""
    if kind == "excl":
        monkeypatch.setattr(files, "fcntl", None)
    out, lock = tmp_path / "out.mkv", tmp_path / ".out.mkv.lock"
    dead = _dead_pid()
    lock.write_text(json.dumps({"pid": dead, "command": "vsinr run in.mp4 -o out.mkv"}))
    notes: list[str] = []
    with output_lock(out, note=notes.append):
        assert _record(lock)["pid"] == os.getpid()
        with pytest.raises(OutputBusy, match=f"process {os.getpid()} "):
            with output_lock(out):
                pass
    assert notes == [f"{out}: taking over the lock left by process {dead}, which no longer runs"]
    assert not lock.exists()
    # the record of a process that runs (this test's parent) on a file nobody holds
    lock.write_text(json.dumps({"pid": os.getppid(), "command": "vsinr run in.mp4 -o out.mkv"}))
    if kind == "flock":  # exact: no flock on it, so its writer is dead whatever the record says
        with output_lock(out):
            pass
        assert not lock.exists()
    else:  # the fallback can only ask whether that process id runs
        with pytest.raises(OutputBusy) as busy, output_lock(out):
            pass
        assert str(busy.value) == (f"{out} is being written by process {os.getppid()} (vsinr run in.mp4 -o out.mkv); "
                                   "wait for it or stop it")
        lock.write_bytes(b"")  # created, and its writer died before it wrote a record
        with output_lock(out):
            pass
        assert not lock.exists()


def test_folders_made_for_the_output_go_when_the_write_fails(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out.mkv"
    with pytest.raises(RuntimeError), output_lock(out):
        raise RuntimeError("the filters failed")
    assert list(tmp_path.iterdir()) == []
    with output_lock(out):
        out.write_bytes(b"written")
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.mkv"]


@pytest.fixture(scope="module")
def clip(small_video: Path) -> Path:
    return small_video


def _held_by(lock: Path, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    """Wait until ``process`` holds ``lock`` (its record names it)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if json.loads(lock.read_text())["pid"] == process.pid:
                return
        except (OSError, ValueError, KeyError):
            pass
        if process.poll() is not None:
            raise AssertionError(f"the run ended (exit {process.returncode}) before its lock was seen")
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _refused(args: list[str], holder: int) -> None:
    """``args`` stops at once with the one-line error naming ``holder``, touching nothing."""
    started = time.monotonic()
    result = run(args)
    stderr = result.stderr.decode()
    assert result.returncode == 1 and stderr.count("\n") == 1 and b"Traceback" not in result.stderr, stderr
    out = args[args.index("-o") + 1]
    assert stderr.startswith(f"Error: {out} is being written by process {holder} (vsinr run ")
    assert stderr.endswith("; wait for it or stop it\n") and result.stdout == b""
    assert time.monotonic() - started < 30  # ~0.3 s alone; no graph is built, no frame rendered


def test_a_second_run_stops_at_once_naming_the_first(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    args = ["vsinr", "run", str(clip), "-o", str(out), "--codec", "ffv1", "-q", "--filter", "STVSR(2, 2)"]
    first = subprocess.Popen([str(BIN / "vsinr"), *args[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        _held_by(tmp_path / ".out.mkv.lock", first)
        os.killpg(first.pid, signal.SIGSTOP)  # it holds the output as long as the test needs, whatever the machine
        assert _record(tmp_path / ".out.mkv.lock")["command"] == " ".join(["vsinr", *args[1:-1], "'STVSR(2, 2)'"])
        _refused(args, first.pid)
        _refused([*args[:5], "--segments", "2", "--jobs", "2"], first.pid)
        for command in ("encode", "decode"):
            other = run(["vsinr", command, str(clip), "-o", str(out)])
            assert other.returncode == 1 and f"is being written by process {first.pid} (" in other.stderr.decode()
        assert sorted(p.name for p in tmp_path.iterdir()) == [".out.mkv.lock"]  # no .part file of the others
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr.decode()
    assert stdout.decode().strip() == str(out) and sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv"]
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 16


@pytest.fixture(scope="module")
def texture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames of a sliding random texture, large enough that a segment takes a moment to render."""
    path = tmp_path_factory.mktemp("lock") / "texture.mkv"
    base = (np.random.default_rng(0).random((192, 316, 3)) * 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = 256, 192, "yuv444p"
        for n in range(SOURCE_FRAMES):
            rgb = np.ascontiguousarray(base[:, 2 * n : 2 * n + 256])
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.heavy
def test_a_killed_segmented_run_is_taken_over_and_resumes(texture: Path, tmp_path: Path) -> None:
    out, reference = tmp_path / "film.mkv", tmp_path / "single.mkv"
    args = ["vsinr", "run", str(texture), "-o", str(out), "--codec", "ffv1", "--filter", "STVSR(1, 2, method='classic')",
            "--scene-threshold", "0"]  # no scene search: the same timeline, sooner
    single = run([*args[:4], str(reference), *args[5:], "-q"])
    assert single.returncode == 0, single.stderr.decode()
    segmented = [*args, "--segments", "6"]  # in this process: a segment takes a moment, no worker to start
    process = subprocess.Popen([str(BIN / "vsinr"), *segmented[1:], "--progress", "json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for_a_segment(process)
        os.killpg(process.pid, signal.SIGSTOP)  # stopped mid-way for as long as the test needs
        _refused(segmented, process.pid)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # kill -9 of its process group: no cleanup at all
        process.wait()
    assert _record(tmp_path / ".film.mkv.lock")["pid"] == process.pid  # left behind; the kernel released its flock
    finished = len(json.loads((tmp_path / ".film.mkv.segments" / "manifest.json").read_text())["finished"])
    assert 1 <= finished < 6 and not out.exists()
    result = run(segmented)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert f"vsinr: {out}: taking over the lock left by process {process.pid}, which no longer runs" in stderr
    assert f"resuming: {finished} of 6 segments are done" in stderr and f"({6 - finished} rendered" in stderr
    _same(reference, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mkv", "single.mkv"]
