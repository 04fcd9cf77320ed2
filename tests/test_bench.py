"""The evaluation harness on small synthetic clips: degradations, shot splitting, runs and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import moving_frames, run, write_video

from vsinr.evaluation import benchmark, metrics, rate_distortion
from vsinr.io import clips
from vsinr.ops import degrade


def test_stvsr_case_follows_the_protocol() -> None:
    shot = moving_frames(8)
    case = benchmark.make_case("stvsr", shot, benchmark.Settings(sscale=4, tscale=2), np.random.default_rng(0))
    assert case is not None
    assert len(case.targets) == 7 and len(case.inputs) == 4  # trimmed so the last frame is observed
    assert case.inputs[0].shape == (3, 16, 24)
    np.testing.assert_allclose(case.inputs[2], degrade.imresize(shot[4], 0.25))
    assert case.interpolated == {1, 3, 5} and case.border == 4
    assert benchmark.make_case("stvsr", shot[:2], benchmark.Settings(), np.random.default_rng(0)) is None


def test_interpolation_case_scores_odd_frames_only() -> None:
    shot = moving_frames(6)
    case = benchmark.make_case("interpolate", shot, benchmark.Settings(factor=2), np.random.default_rng(0))
    assert case is not None and len(case.inputs) == 3 and len(case.targets) == 5
    assert case.only_interpolated and case.interpolated == {1, 3}
    assert all(np.array_equal(a, b) for a, b in zip(case.inputs, shot[0:5:2], strict=True))


def test_shots_split_at_cuts() -> None:
    frames = moving_frames(12, cut=7)
    assert benchmark.split_shots(frames, 0.08) == [range(0, 7), range(7, 12)]
    assert benchmark.split_shots(moving_frames(12), 0.08) == [range(0, 12)]


@pytest.mark.heavy
def test_evaluate_end_to_end(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "slide.mp4", moving_frames(9))
    settings = benchmark.Settings(sscale=2, tscale=2, learned=False)  # the learned baselines have their own tests
    blend = "vsinr:classic[kernel=bicubic,motion=blend]"
    results = benchmark.evaluate("stvsr", [clip], settings, methods=["classic", "classic:kernel=bicubic,motion=blend"])["stvsr"]
    row = results["clips"]["slide.mp4"]
    assert set(results["runners"]) == {"vsinr:classic", blend, "bicubic+repeat", "bicubic+blend",
                                       "spline36+blend", "spline36+flowfps"}
    # classic with bicubic and blend through vsinr: the same numbers as the native graph
    for key in ("psnr_y", "psnr_y_interp", "psnr_y_aligned", "ssim_rgb"):
        assert row[blend][key] == pytest.approx(row["bicubic+blend"][key], abs=1e-9)
    # its defaults (Spline36, motion along DIS flow): the same source frames as Spline36, better in between
    assert row["vsinr:classic"]["psnr_y_aligned"] == pytest.approx(row["spline36+blend"]["psnr_y_aligned"], abs=1e-9)
    assert row["vsinr:classic"]["psnr_y_interp"] > row["spline36+blend"]["psnr_y_interp"] + 1
    assert row["vsinr:classic"]["frames"] == 9 and row["vsinr:classic"]["fps"] > 0
    assert row["vsinr:classic"]["first_s"] > 0
    interp = benchmark.evaluate("interpolate", [clip], settings, methods=["classic"], use_baselines=False)["interpolate"]
    assert interp["clips"]["slide.mp4"]["vsinr:classic"]["frames"] == 4  # frames 1, 3, 5, 7


def test_refusals(tmp_path: Path) -> None:
    settings = benchmark.Settings()
    with pytest.raises(benchmark.BenchError, match="clip not found"):
        benchmark.evaluate("stvsr", [tmp_path / "nope.mp4"], settings)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00 ftypisom" + b"garbage" * 100)
    with pytest.raises(benchmark.BenchError, match="cannot read"):
        benchmark.evaluate("stvsr", [broken], settings)
    with pytest.raises(benchmark.BenchError, match="nosuch not installed"):
        benchmark.evaluate("stvsr", [broken], settings, methods=["nosuch"])
    short = write_video(tmp_path / "short.mp4", moving_frames(2))
    with pytest.raises(benchmark.BenchError, match="no shot is long enough"):
        benchmark.evaluate("stvsr", [short], settings)
    with pytest.raises(benchmark.BenchError, match="nothing to compare"):
        benchmark.evaluate("inpaint", [short], settings, methods=[], use_baselines=False)


def test_cli_fails_loudly_on_a_missing_clip(tmp_path: Path) -> None:
    result = run(["vsinr", "bench", str(tmp_path / "missing.mp4")])
    assert result.returncode == 1 and "clip not found" in result.stderr.decode()
    assert not list(tmp_path.iterdir())


def test_regionfill_recovers_harmonic_content_exactly() -> None:
    from fractions import Fraction

    from vsinr.evaluation import baselines
    from vsinr.io import media

    yy, xx = np.mgrid[0:96, 0:128].astype(np.float32)
    frame = np.stack([xx / 128, yy / 96, (xx + yy) / 224]).astype(np.float32)  # linear ramps are harmonic
    mask = degrade.hole_masks(96, 128, np.random.default_rng(0), size=20)["fixed"]
    holed = np.where(mask, 0, frame).astype(np.float32)
    out = media.read_frames(baselines.regionfill(media.clip_from_arrays([holed, holed], Fraction(24)), mask))
    assert np.abs(out[1] - frame).max() < 1e-5
    assert np.array_equal(out[0][:, ~mask], holed[:, ~mask])  # known pixels untouched


@pytest.mark.heavy
def test_inpaint_case_scores_inside_the_holes(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "slide.mp4", moving_frames(4, height=120, width=160))
    result = benchmark.evaluate("inpaint", [clip], benchmark.Settings(), methods=[])
    assert set(result) == {"inpaint fixed", "inpaint random", "inpaint moving"}
    row = result["inpaint fixed"]["clips"]["slide.mp4"]["regionfill"]
    assert row["psnr_y_holes"] < row["psnr_y"] < 100  # the error lives in the holes
    assert row["ssim_y_holes"] < row["ssim_y"] < 1
    # static holes: the temporal median has nothing to take from other frames and falls back to regionfill
    assert result["inpaint fixed"]["clips"]["slide.mp4"]["temporal median"]["psnr_y_holes"] == row["psnr_y_holes"]
    moving = result["inpaint moving"]["clips"]["slide.mp4"]
    assert moving["temporal median"]["psnr_y_holes"] != moving["regionfill"]["psnr_y_holes"]


def test_temporal_median_takes_what_other_frames_saw() -> None:
    from fractions import Fraction

    from vsinr.evaluation import baselines
    from vsinr.io import media

    still = np.random.default_rng(1).random((3, 40, 60), dtype=np.float32)  # a static scene
    mask = np.zeros((5, 40, 60), bool)
    for n in range(5):
        mask[n, 5:15, 10 * n : 10 * n + 12] = True  # a hole that moves right
    mask[:, 30:35, 40:45] = True  # and one that never moves
    holed = [np.where(m, 0, still).astype(np.float32) for m in mask]
    out = media.read_frames(baselines.temporal_median(media.clip_from_arrays(holed, Fraction(24)), mask))
    spatial = media.read_frames(baselines.regionfill(media.clip_from_arrays(holed, Fraction(24)), mask))
    moving = mask[2].copy()
    moving[30:35, 40:45] = False
    assert np.array_equal(out[2][:, moving], still[:, moving])  # seen in a neighbour: exact
    assert np.array_equal(out[2][:, 30:35, 40:45], spatial[2][:, 30:35, 40:45])  # never seen: regionfill
    assert np.array_equal(out[2][:, ~mask[2]], still[:, ~mask[2]])


def test_compare_two_runs(tmp_path: Path) -> None:
    import json

    def result(psnr: float, commit: str) -> dict:
        row = {"psnr_y": psnr, "ssim_y": 0.9, "fps": 100.0}
        return {"meta": {"commit": commit}, "results": {"stvsr": {"average": {"vsinr:classic": row}}}}

    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(result(30.0, "aaa")))
    new.write_text(json.dumps(result(30.5, "bbb")))
    shown = run(["vsinr", "compare", str(old), str(new)])
    assert shown.returncode == 0, shown.stderr.decode()
    assert "from aaa to bbb" in shown.stdout.decode() and "| stvsr | vsinr:classic | +0.50 | +0.0000 | +0.0 |" in shown.stdout.decode()


def test_stvsr_restoration_cases_damage_the_low_resolution_input() -> None:
    shot = moving_frames(5)
    settings = benchmark.Settings()
    clean = benchmark.make_case("stvsr", shot, settings, np.random.default_rng(0))
    noisy = benchmark.make_case("stvsr-noise", shot, settings, np.random.default_rng(0))
    damaged = benchmark.make_case("stvsr-jpeg", shot, settings, np.random.default_rng(0), quality=10)
    assert clean is not None and noisy is not None and damaged is not None
    for case in (noisy, damaged):
        assert [f.shape for f in case.inputs] == [(3, 16, 24)] * 3
        assert all(np.array_equal(a, b) for a, b in zip(case.targets, clean.targets, strict=True))
        assert case.interpolated == {1, 3}
    # about 10% of the low-resolution pixels are impulses; JPEG at quality 10 loses this fine texture
    impulses = np.mean([(np.all(f == 0, 0) | np.all(f == 1, 0)).mean() for f in noisy.inputs])
    assert 0.05 < impulses < 0.15
    assert metrics.psnr(damaged.inputs[0], clean.inputs[0]) < 30
    cropped = clips.centre_crop(shot, (40, 30))
    assert cropped[0].shape == (3, 30, 40) and np.array_equal(cropped[0], shot[0][:, 17:47, 28:68])
    runners = benchmark.runners("stvsr-noise", settings, None, True)
    assert "vsinr:zsm" in runners and "median3+bm3d>bicubic+blend" in runners and "vsinr:videoinr" not in runners


@pytest.mark.heavy
def test_codec_task_measures_the_neural_codec_beside_x264_and_x265(tmp_path: Path):
    clip = write_video(tmp_path / "c.mkv", moving_frames(4))
    settings = benchmark.Settings(crfs=(24, 30, 36, 42), codec_sizes=("80000", "110000", "150000", "200000"), codec_epochs=1)
    result = rate_distortion.evaluate_codec([clip], settings, methods=["snerv"])["codec"]
    points = result["curves"]["c.mkv"]["snerv"]
    assert [p["crf"] for p in points] == ["80000", "110000", "150000", "200000"]
    assert all(p["bpp"] > 0 and p["decode_fps"] > 0 and np.isfinite(p["psnr_y"]) for p in points)
    assert points[0]["bpp"] < points[-1]["bpp"]  # a bigger model costs more bits
    assert set(result["bd_rate"]["c.mkv"]) == {"snerv vs libx264", "snerv vs libx265"}
