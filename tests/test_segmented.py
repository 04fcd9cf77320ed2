"""Segmented runs (``vsinr run --segments/--jobs/--ray``): the joined file equals a one-process run frame for
frame (FFV1, decoded) with the same timestamps and rate; killed runs and workers resume; scene cuts are
segment borders; faults are clear errors that keep earlier outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import BIN, run
from test_videoinr import tiny_weights

SOURCE_FRAMES, CUT = 30, 20  # source frame 20 begins a second scene


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 64x48 clip of two scenes (a sliding bar, then another colour and a falling edge) and tiny weights."""
    folder = tmp_path_factory.mktemp("segmented")
    path = folder / "scenes.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        for n in range(SOURCE_FRAMES):
            rgb = np.zeros((48, 64, 3), np.uint8)
            if n < CUT:
                rgb[:, 2 * n :, 0], rgb[..., 1] = 200, 60
            else:
                rgb[..., 2], rgb[2 * (n - CUT) :, :, 1] = 220, 150
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return {"clip": path, "weights": tiny_weights(folder), "folder": folder}


def _filters(media: dict[str, Path], method: str) -> list[str]:
    if method == "classic":
        return ["--filter", "STVSR(1, 2, method='classic')"]
    return ["--filter", f"STVSR(1, 2, method='videoinr', weights='{media['weights']}')"]


def _decoded(path: Path) -> tuple[list[int], list[np.ndarray], object, object]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return [f.pts for f in frames], [f.to_ndarray(format="rgb24") for f in frames], stream.average_rate, stream.time_base


def _same(a: Path, b: Path) -> None:
    pts_a, frames_a, rate_a, base_a = _decoded(a)
    pts_b, frames_b, rate_b, base_b = _decoded(b)
    assert pts_a == pts_b and rate_a == rate_b and base_a == base_b and len(frames_a) == 2 * SOURCE_FRAMES
    assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b, strict=True))


@pytest.fixture(scope="module")
def single(media: dict[str, Path]) -> dict[str, Path]:
    """One-process runs, the reference for every segmented one."""
    outputs = {}
    for method in ("classic", "videoinr"):
        out = media["folder"] / f"single-{method}.mkv"
        result = run(["vsinr", "run", str(media["clip"]), "-o", str(out), "--codec", "ffv1", "-q", *_filters(media, method)])
        assert result.returncode == 0, result.stderr.decode()
        outputs[method] = out
    return outputs


def _summary(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stderr.decode().strip().splitlines()[-1]


@pytest.mark.heavy
@pytest.mark.parametrize("method", ["classic", "videoinr"])
def test_two_workers_give_the_one_process_file(media: dict[str, Path], single: dict[str, Path], tmp_path: Path,
                                               method: str) -> None:
    out = tmp_path / "out.mkv"
    result = run(["vsinr", "run", str(media["clip"]), "-o", str(out), "--codec", "ffv1", "--jobs", "2",
                  "--segments", "3", "--progress", "json", *_filters(media, method)])
    assert "60 frames in 3 segments (3 rendered, 0 done before, 0 retried)" in _summary(result)
    _same(single[method], out)
    records = [json.loads(line) for line in result.stderr.decode().splitlines() if line.startswith("{")]
    done = [r for r in records if r["event"] == "done" and r["stage"] == "rendering"]
    assert done and done[0]["frames"] == 60 and done[0]["segments"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv"]  # segments and manifest removed after the join


@pytest.mark.heavy
@pytest.mark.ray
def test_ray_gives_the_one_process_file(media: dict[str, Path], single: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("ray")
    for method in ("classic", "videoinr"):
        out = tmp_path / f"{method}.mkv"
        result = run(["vsinr", "run", str(media["clip"]), "-o", str(out), "--codec", "ffv1", "--ray", "--jobs", "2",
                      "--segments", "3", "-q", *_filters(media, method)], env={"RAY_ADDRESS": ""})
        assert result.returncode == 0, result.stderr.decode()
        _same(single[method], out)


def _start(media: dict[str, Path], out: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "vsinr"), "run", str(media["clip"]), "-o", str(out), "--codec", "ffv1", "--progress", "json",
         *_filters(media, "videoinr"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for_a_segment(process: subprocess.Popen[bytes]) -> None:
    """Read the run's progress lines until one says a segment of the render is finished."""
    assert process.stderr is not None
    deadline = time.monotonic() + 240
    for line in process.stderr:
        if line.startswith(b"{"):
            record = json.loads(line)
            if record.get("stage") == "rendering" and record.get("segments", 0) >= 1:
                return
        assert time.monotonic() < deadline
    raise AssertionError(f"the run ended before a segment was done (exit {process.wait()})")


@pytest.mark.heavy
def test_a_killed_run_resumes_and_keeps_the_old_file_until_then(media: dict[str, Path], single: dict[str, Path],
                                                                tmp_path: Path) -> None:
    out = tmp_path / "film.mkv"
    out.write_bytes(b"the previous output")
    process = _start(media, out, "--jobs", "2", "--segments", "6")
    _wait_for_a_segment(process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    manifest = json.loads((tmp_path / ".film.mkv.segments" / "manifest.json").read_text())
    finished = len(manifest["finished"])
    assert 1 <= finished < 6 and out.read_bytes() == b"the previous output"
    result = run(["vsinr", "run", str(media["clip"]), "-o", str(out), "--codec", "ffv1", "--jobs", "2", "--segments", "6",
                  *_filters(media, "videoinr")])
    summary = _summary(result)
    assert f"({6 - finished} rendered, {finished} done before" in summary
    assert f"resuming: {finished} of 6 segments are done" in result.stderr.decode()
    _same(single["videoinr"], out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mkv"]  # no segments, no .part files


def _workers(pid: int) -> list[int]:
    """The worker processes of a run (its children started by multiprocessing's spawn)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.mark.heavy
def test_a_killed_worker_is_replaced(media: dict[str, Path], single: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    process = _start(media, out, "--jobs", "2", "--segments", "6")
    _wait_for_a_segment(process)
    os.kill(_workers(process.pid)[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 0, stderr.decode()
    assert "a worker process died" in stderr.decode() and ", 1 retried)" in stderr.decode()
    _same(single["videoinr"], out)


def test_scene_cuts_are_borders_and_never_blended(media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    result = run(["vsinr", "run", str(media["clip"]), "-o", str(out), "--codec", "ffv1", "--segments", "2",
                  "--keep-segments", "-q", *_filters(media, "classic")])
    assert result.returncode == 0, result.stderr.decode()
    manifest = json.loads((tmp_path / ".out.mkv.segments" / "manifest.json").read_text())
    assert manifest["cuts"] == [2 * CUT]
    assert [(s["start"], s["stop"]) for s in manifest["segments"]] == [(0, 2 * CUT), (2 * CUT, 2 * SOURCE_FRAMES)]
    _, frames, _, _ = _decoded(out)
    # output 39 sits halfway between source frames 19 and 20, across the cut: it holds frame 19
    assert np.array_equal(frames[2 * CUT - 1], frames[2 * CUT - 2])
    assert not np.array_equal(frames[2 * CUT - 3], frames[2 * CUT - 2])  # within a scene, frames do move


@pytest.mark.heavy
def test_damaged_segments_are_rendered_again_and_changed_filters_start_over(media: dict[str, Path],
                                                                            single: dict[str, Path],
                                                                            tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    args = ["vsinr", "run", str(media["clip"]), "-o", str(out), "--codec", "ffv1", "--segments", "3", "--keep-segments",
            *_filters(media, "classic")]
    assert run(args).returncode == 0
    folder = tmp_path / ".out.mkv.segments"
    (folder / "00001.mkv").write_bytes(b"damaged on disk")
    out.unlink()
    assert "(1 rendered, 2 done before" in _summary(run(args))
    _same(single["classic"], out)
    other = run([*args[:-1], "STVSR(1, 2, method='classic', sc=0)"])
    assert "left by a run of other filters or input; starting over" in other.stderr.decode()
    assert "(3 rendered, 0 done before" in _summary(other)


def test_faults_are_one_line_errors(media: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    unwritable = run(["vsinr", "run", str(media["clip"]), "-o", str(blocker / "out.mkv"), "--segments", "2",
                      *_filters(media, "classic")])
    assert unwritable.returncode == 1 and b"Traceback" not in unwritable.stderr
    assert b"Not a directory" in unwritable.stderr or b"File exists" in unwritable.stderr
    unreachable = run(["vsinr", "run", str(media["clip"]), "-o", str(tmp_path / "o.mkv"), "--ray", "127.0.0.1:1"])
    assert unreachable.returncode == 1 and "cannot reach the Ray cluster at 127.0.0.1:1" in unreachable.stderr.decode()
    spec = run(["vsinr", "run", str(media["clip"]), "-o", str(tmp_path / "o.mkv"), "--segments", "0"])
    assert spec.returncode == 2 and "auto, a count of segments" in spec.stderr.decode()
    # an MP4 whose header promises more frames than it holds
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(30):
            frame = av.VideoFrame.from_ndarray((rng.random((48, 64, 3)) * 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    short = run(["vsinr", "run", str(cut), "-o", str(tmp_path / "o.mkv"), "--segments", "2"])
    assert short.returncode == 1 and "its header says 30 frames but only" in short.stderr.decode()
    assert not (tmp_path / "o.mkv").exists() and b"Traceback" not in short.stderr


@pytest.mark.heavy
def test_fitted_chunks_are_fitted_once_across_workers_and_can_be_fitted_first(media: dict[str, Path],
                                                                               tmp_path: Path) -> None:
    fitted = "Interpolate(2, method='ofsiren', cache='{}', steps=2, chunk=8)"  # where chunks are fitted, not how well

    def fits(result: subprocess.CompletedProcess[bytes]) -> list[tuple[str, str]]:
        assert result.returncode == 0, result.stderr.decode()
        records = [json.loads(line) for line in result.stderr.decode().splitlines() if line.startswith("{")]
        stage, found = "", []
        for record in records:
            if record["event"] == "done":
                stage = record["stage"]  # what follows belongs to the next stage
            elif record["event"] == "log" and "fitting frames" in record["text"] and ": step " not in record["text"]:
                found.append((stage, record["text"].split("fitting frames ")[1].split()[0]))
        return found

    single = tmp_path / "single.mkv"
    assert run(["vsinr", "run", str(media["clip"]), "-o", str(single), "--codec", "ffv1", "--frames", "16", "-q",
                "--filter", fitted.format(tmp_path / "cache0")]).returncode == 0
    cache = tmp_path / "cache1"
    out = tmp_path / "out.mkv"
    spread = fits(run(["vsinr", "run", str(media["clip"]), "-o", str(out), "--codec", "ffv1", "--frames", "16",
                       "--jobs", "2", "--segments", "4", "--progress", "json", "--filter", fitted.format(cache)]))
    pieces = [piece for _, piece in spread]
    assert len(pieces) == len(set(pieces)) == len(list(cache.glob("*.safetensors"))) >= 3  # chunks 0-7, 5-12, 8-15
    _same_frames = _decoded(single)[1], _decoded(out)[1]
    assert all(np.array_equal(a, b) for a, b in zip(*_same_frames, strict=True))
    first = fits(run(["vsinr", "run", str(media["clip"]), "-o", str(tmp_path / "first.mkv"), "--codec", "ffv1",
                      "--frames", "16", "--jobs", "2", "--fit-first", "--progress", "json",
                      "--filter", fitted.format(tmp_path / "cache2")]))
    assert sorted(p for _, p in first) == sorted(pieces) and {stage for stage, _ in first} == {"scene cuts"}
