"""Segments of a run's timeline, the resume manifest, progress lines and the join by remuxing (no VapourSynth)."""

from __future__ import annotations

import io
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vsinr.app.progress import Progress
from vsinr.app.segments import (
    Manifest,
    Segment,
    SegmentError,
    cut_borders,
    file_digest,
    parse_spec,
    split,
    target_length,
)
from vsinr.io import remux


def test_segment_specs() -> None:
    assert parse_spec("auto") == "auto" and parse_spec(" 8 ") == 8 and parse_spec("30s") == 30.0
    assert parse_spec("2.5s") == 2.5
    for bad in ("0", "-2", "abc", "0s", "8 frames", ""):
        with pytest.raises(SegmentError, match="auto, a count"):
            parse_spec(bad)
    assert target_length(4, 100, Fraction(25), 1) == 25
    assert target_length(2.0, 100, Fraction(24000, 1001), 1) == pytest.approx(2 * 24000 / 1001)
    # auto: about 4 segments per worker, at least 10 s each unless that leaves a worker idle
    assert target_length("auto", 24 * 3600, Fraction(24), 2) == 24 * 300
    assert target_length("auto", 24 * 60, Fraction(24), 2) == 24 * 10
    assert target_length("auto", 120, Fraction(48), 2) == 60


def _covers(segments: list[Segment], total: int) -> None:
    assert segments[0].start == 0 and segments[-1].stop == total
    assert all(a.stop == b.start for a, b in zip(segments, segments[1:], strict=False))
    assert [s.index for s in segments] == list(range(len(segments))) and all(s.frames > 0 for s in segments)


def test_split_by_length_and_count() -> None:
    for total in (1, 7, 10, 100, 1001):
        for count in (1, 2, 3, 7):
            segments = split(total, target_length(count, total, Fraction(24), 1))
            _covers(segments, total)
            assert len(segments) == min(count, total)
    segments = split(100, 30.0)  # a tail shorter than half a length joins the last segment
    assert [(s.start, s.stop) for s in segments] == [(0, 30), (30, 60), (60, 100)]


def test_split_puts_borders_on_scene_cuts() -> None:
    segments = split(300, 100.0, [90, 210])
    _covers(segments, 300)
    assert [s.start for s in segments] == [0, 90, 210]  # each cut lies within half a length of a wanted border
    assert [s.start for s in split(300, 100.0, [60, 130, 250])] == [0, 130, 250]  # the cut nearest to 100 on
    many = list(range(7, 1000, 7))  # scenes of 7 frames: segments of whole scenes, about 100 frames long
    segments = split(1000, 100.0, many)
    _covers(segments, 1000)
    assert all(s.start in many for s in segments[1:]) and all(50 <= s.frames <= 150 for s in segments[:-1])
    assert split(100, 100.0, [0, 100, 150]) == [Segment(0, 0, 100)]  # cuts at or past the ends are not borders


def test_cuts_map_to_the_output_timeline() -> None:
    # source frame 25 begins a scene; at 2x the rate its first output frame is 50, at 2.5x 63 (= ceil 62.5)
    assert cut_borders([25], Fraction(2), 120) == [50]
    assert cut_borders([25, 48], Fraction(5, 2), 150) == [63, 120]
    assert cut_borders([0, 60], Fraction(2), 120) == []


def test_manifest_resumes_only_its_own_run_and_forgets_damaged_files(tmp_path: Path) -> None:
    folder = Manifest.folder_for(tmp_path / "film.mkv")
    assert folder == tmp_path / ".film.mkv.segments"
    folder.mkdir()
    segments = [Segment(0, 0, 10), Segment(1, 10, 20), Segment(2, 20, 25)]
    manifest = Manifest(folder, "key-a", ".mkv", segments, [10])
    for segment in segments[:2]:
        manifest.path(segment).write_bytes(b"frames %d" % segment.index)
        manifest.finished[segment.index] = file_digest(manifest.path(segment))
    manifest.save()
    assert Manifest.load(folder, "key-b") is None  # other filters or input: start over
    loaded = Manifest.load(folder, "key-a")
    assert loaded is not None and loaded.segments == segments and loaded.cuts == [10]
    assert [s.index for s in loaded.verified()] == [0, 1]
    manifest.path(segments[1]).write_bytes(b"damaged")
    assert [s.index for s in loaded.verified()] == [0] and 1 not in loaded.finished
    (folder / "manifest.json").write_text("{not json")
    assert Manifest.load(folder, "key-a") is None
    loaded.remove()
    assert not folder.exists()


def test_progress_lines_count_frames_segments_and_skips() -> None:
    stream = io.StringIO()
    bar = Progress(30, 3, "json", stream)
    bar.skip(10)
    bar.advance(4)
    bar.segment_done(4, 10)  # a segment whose last frames were not reported one by one
    bar.note("hello")
    bar.close()
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    done = records[-1]
    assert done["event"] == "done" and done["frames"] == 20 and done["segments"] == 2
    assert done["skipped_segments"] == 1 and done["total_frames"] == 30 and done["stage"] == "rendering"
    assert {"event": "note", "stage": "rendering", "text": "hello"} in records
    assert all(r["frames"] <= 30 for r in records if r["event"] != "note")
    quiet = io.StringIO()
    silent = Progress(5, 1, "quiet", quiet)
    silent.advance(5)
    silent.close()
    assert quiet.getvalue() == ""
    with pytest.raises(ValueError, match="bar, json, quiet"):
        Progress(1, 1, "loud")


def _write(path: Path, values: list[int], codec: str = "ffv1", rate: int = 25) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        stream.time_base = Fraction(1, rate)
        for n, value in enumerate(values):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32), value, np.uint8), format="yuv420p")
            frame.pts = n
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _decoded(path: Path) -> list[tuple[int, int]]:
    with av.open(str(path)) as container:
        return [(f.pts, int(f.to_ndarray()[0, 0])) for f in container.decode(video=0)]


@pytest.mark.parametrize("suffix,codec", [(".mkv", "ffv1"), (".mp4", "libx264")])
def test_join_gives_the_frames_and_timestamps_of_one_encode(tmp_path: Path, suffix: str, codec: str) -> None:
    values = [10 * n for n in range(13)]
    whole, joined = tmp_path / f"whole{suffix}", tmp_path / f"joined{suffix}"
    _write(whole, values, codec)
    parts = []
    for i, (a, b) in enumerate([(0, 5), (5, 9), (9, 13)]):
        part = tmp_path / f"{i}{suffix}"
        _write(part, values[a:b], codec)
        parts.append((part, b - a))
    remux.join(parts, joined, Fraction(25))
    assert [pts for pts, _ in _decoded(joined)] == [pts for pts, _ in _decoded(whole)]
    if codec == "ffv1":
        assert _decoded(joined) == _decoded(whole)
    with av.open(str(joined)) as container:
        assert container.streams.video[0].average_rate == 25


def test_join_refuses_a_damaged_segment_and_keeps_the_old_output(tmp_path: Path) -> None:
    good, short = tmp_path / "0.mkv", tmp_path / "1.mkv"
    _write(good, [1, 2, 3])
    _write(short, [4, 5])
    target = tmp_path / "out.mkv"
    target.write_bytes(b"precious")
    with pytest.raises(remux.JoinError, match="holds 2 frames, not 3"):
        remux.join([(good, 3), (short, 3)], target, Fraction(25))
    garbage = tmp_path / "2.mkv"
    garbage.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(100))
    with pytest.raises(remux.JoinError):
        remux.join([(good, 3), (garbage, 2)], target, Fraction(25))
    assert target.read_bytes() == b"precious" and sorted(p.name for p in tmp_path.iterdir()) == [
        "0.mkv", "1.mkv", "2.mkv", "out.mkv"]
