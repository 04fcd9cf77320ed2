"""The public functions in-process: shapes, rates, props, content, scene changes, determinism, errors."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np
import pytest
import vapoursynth as vs
from conftest import error_of, frames, lerp, noise_clip, planes

import vsinr

core = vs.core


# the host's behaviour is checked on the classic method with bicubic and linear blending, whose output
# is known exactly
BLEND = {"method": "classic", "kernel": "bicubic", "motion": "blend"}


def STVSR(clip: vs.VideoNode, *args: object, **kwargs: object) -> vs.VideoNode:  # noqa: N802
    return core.vsinr.STVSR(clip, *args, **{**BLEND, **kwargs})


def Interpolate(clip: vs.VideoNode, *args: object, **kwargs: object) -> vs.VideoNode:  # noqa: N802
    return core.vsinr.Interpolate(clip, *args, **{**BLEND, **kwargs})


def expected_stvsr(src: vs.VideoNode, sscale: int, tscale: int) -> list[np.ndarray]:
    """classic STVSR computed directly: zimg bicubic per source frame, then blends from the nearer end."""
    up = frames(core.resize.Bicubic(src, src.width * sscale, src.height * sscale))
    out = []
    for k in range(src.num_frames * tscale):
        i, t = divmod(k, tscale)
        i, t = (i, t / tscale) if i < src.num_frames - 1 else (src.num_frames - 1, 0.0)
        out.append(up[i] if t == 0 else lerp(up[i], up[i + 1], t))
    return out


def test_stvsr_shape_rate_and_content() -> None:
    src = noise_clip(length=5)
    out = STVSR(src, 2, 4)
    assert (out.width, out.height, out.num_frames, out.fps) == (64, 48, 20, Fraction(96))
    assert out.format.id == vs.RGBS
    got = frames(out)
    for k, want in enumerate(expected_stvsr(src, 2, 4)):
        np.testing.assert_allclose(got[k], want, atol=2e-6, rtol=0, err_msg=f"frame {k}")
    # source-aligned and held frames are the resized source, bit for bit
    up = frames(core.resize.Bicubic(src, 64, 48))
    assert np.array_equal(got[8], up[2]) and np.array_equal(got[19], up[4])


def test_props_follow_the_new_rate() -> None:
    src = core.std.SetFrameProps(noise_clip(length=4), _AbsoluteTime=1.5, Custom=7)
    out = STVSR(src, 1, 3)
    props = out.get_frame(4).props
    assert (props["_DurationNum"], props["_DurationDen"]) == (1, 72)
    assert props["Custom"] == 7 and "_AbsoluteTime" not in props
    assert props["VsinrSourceTime"] == pytest.approx(4 / 3)


def test_exact_rational_rate_24000_1001_to_60000_1001() -> None:
    src = noise_clip(length=10, fpsnum=24000, fpsden=1001)
    out = STVSR(src, 1, fps_num=60000, fps_den=1001)
    assert out.num_frames == 25 and out.fps == Fraction(60000, 1001)
    props = out.get_frame(7).props
    assert (props["_DurationNum"], props["_DurationDen"]) == (1001, 60000)
    assert props["VsinrSourceTime"] == pytest.approx(2.8)
    src_frames = frames(src)
    np.testing.assert_allclose(planes(out.get_frame(7)), lerp(src_frames[2], src_frames[3], 0.8), atol=2e-6)


def test_no_blending_across_a_scene_change() -> None:
    src = noise_clip(length=6)
    cut = src[:2] + core.std.SetFrameProps(src[2], _SceneChangeNext=1) + src[3:]
    out = frames(Interpolate(cut, 4))
    src_frames = frames(src)
    for k in (9, 10, 11):  # between source 2 and 3: the left frame, unblended
        assert np.array_equal(out[k], src_frames[2])
    assert not np.array_equal(out[13], src_frames[3])  # blending resumes after the cut
    flagged = Interpolate(cut, 4)
    assert flagged.get_frame(11).props.get("_SceneChangeNext") == 1
    assert "_SceneChangeNext" not in flagged.get_frame(10).props
    # sc=0 blends anyway
    assert not np.array_equal(planes(Interpolate(cut, 4, sc=0).get_frame(10)), src_frames[2])


def test_output_does_not_depend_on_request_order_or_threads() -> None:
    src = noise_clip(width=40, height=30, length=9)
    reference = frames(STVSR(src, 2, 3))
    shuffled = STVSR(src, 2, 3)
    order = list(range(shuffled.num_frames))
    random.Random(1).shuffle(order)
    got = {n: planes(shuffled.get_frame(n)) for n in order}
    assert all(np.array_equal(got[n], reference[n]) for n in order)
    threaded = STVSR(src, 2, 3)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: (n, planes(threaded.get_frame(n))), order * 2))
    assert all(np.array_equal(frame, reference[n]) for n, frame in results)
    futures = [(n, threaded.get_frame_async(n)) for n in reversed(range(threaded.num_frames))]
    assert all(np.array_equal(planes(f.result()), reference[n]) for n, f in futures)


def test_output_does_not_depend_on_the_core_thread_count() -> None:
    src = noise_clip(width=40, height=30, length=7)
    threads = core.num_threads
    try:
        core.num_threads = 1
        single = frames(STVSR(src, 2, 4))
        core.num_threads = 8
        many = frames(STVSR(src, 2, 4))
    finally:
        core.num_threads = threads
    assert all(np.array_equal(a, b) for a, b in zip(single, many, strict=True))


def test_two_instances_in_one_graph() -> None:
    a = STVSR(noise_clip(seed=1), 2, 2)
    b = STVSR(noise_clip(seed=2), 2, 2, kernel="spline36")
    mixed = core.std.Interleave([a, b])
    got = frames(mixed)
    assert all(np.array_equal(got[2 * k], x) for k, x in enumerate(frames(STVSR(noise_clip(seed=1), 2, 2))))
    assert np.array_equal(got[1], planes(core.resize.Spline36(noise_clip(seed=2), 64, 48).get_frame(0)))


def test_rgbh_in_rgbh_out() -> None:
    src = noise_clip(fmt=vs.RGBH)
    out = STVSR(src, 2, 2)
    assert out.format.id == vs.RGBH
    ref = frames(STVSR(core.resize.Point(src, format=vs.RGBS), 2, 2))
    np.testing.assert_allclose(planes(out.get_frame(3)).astype(np.float32), ref[3], atol=2e-3)


def test_python_mirror_and_version() -> None:
    src = noise_clip()
    assert np.array_equal(planes(vsinr.stvsr(src, 2, 4, **BLEND).get_frame(5)), planes(STVSR(src, 2, 4).get_frame(5)))
    assert vsinr.interpolate(src, fps_num=60, fps_den=1).num_frames == 15
    version = core.vsinr.Version()
    assert version["version"] == vsinr.__version__.encode() or version["version"] == vsinr.__version__
    path = version["path"].decode() if isinstance(version["path"], bytes) else version["path"]
    assert path.endswith("libvsinr.so") and path.startswith(vs.get_plugin_dir())


# ------------------------------------------------------------------------------------------- errors



def test_wrong_format_names_the_function_and_the_fix() -> None:
    yuv = core.std.BlankClip(format=vs.YUV420P8, length=4)
    message = error_of(lambda: STVSR(yuv, 2, 2))
    assert message.startswith("STVSR:") and "YUV420P8" in message
    assert 'core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s="709")' in message
    assert error_of(lambda: Interpolate(core.std.BlankClip(format=vs.RGB24, length=4))).startswith(
        "Interpolate:"
    )


def test_variable_frame_rate_is_refused_for_temporal_work() -> None:
    vfr = core.std.Splice([noise_clip(fpsnum=24), noise_clip(fpsnum=30)], mismatch=True)
    assert vfr.fps == 0
    message = error_of(lambda: STVSR(vfr, 2, 2))
    assert "variable frame rate" in message and "AssumeFPS" in message
    assert STVSR(vfr, 2, 1).fps == 0  # spatial only is fine


def test_variable_size_is_refused() -> None:
    mixed = core.std.Splice([noise_clip(width=32), noise_clip(width=40)], mismatch=True)
    assert "variable frame size" in error_of(lambda: STVSR(mixed, 2, 2))


def test_too_few_frames() -> None:
    assert "at least 2 frames" in error_of(lambda: Interpolate(noise_clip(length=1)))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"sscale": 0}, "sscale must be a positive number"),
        ({"sscale": -2}, "sscale must be a positive number"),
        ({"sscale": 2, "tscale": 0}, "tscale must be a positive number"),
        ({"sscale": 2, "tscale": 0.5}, "tscale must be ≥ 1"),
        ({"sscale": 2, "tscale": 2, "fps_num": 60}, "either tscale or fps_num"),
        ({"sscale": 2, "fps_num": 12}, "below the clip's 24"),
        ({"sscale": 2, "method": "nope"}, "unknown method 'nope'; installed methods for STVSR: "),
        ({"sscale": 2, "kernel": "sinc"}, "kernel='sinc' is not one of"),
        ({"sscale": 2, "device": "tpu"}, "device='tpu' is not understood"),
    ],
)
def test_bad_arguments(kwargs: dict, needle: str) -> None:
    message = error_of(lambda: STVSR(noise_clip(), **kwargs))
    assert message.startswith("STVSR:") and needle in message, message


def test_missing_gpu_is_a_clear_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert "no CUDA GPU" in error_of(lambda: STVSR(noise_clip(), 2, 2, device="cuda"))


def test_interpolate_keeps_the_source_size() -> None:
    # Interpolate has no spatial scale at all: VapourSynth itself refuses the argument, naming it
    assert "named sscale" in error_of(lambda: Interpolate(noise_clip(), 2, sscale=2))
    out = Interpolate(noise_clip(width=20, height=14), 2)
    assert (out.width, out.height) == (20, 14)


def test_requests_exactly_the_window_frames() -> None:
    produced: list[int] = []
    blank = core.std.BlankClip(width=16, height=12, format=vs.RGBS, length=50, fpsnum=24)

    def count(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        produced.append(n)
        return f

    src = core.std.ModifyFrame(blank, blank, count)
    out = STVSR(src, 1, fps_num=60, fps_den=1)  # output 53 sits at source time 21.2
    out.get_frame(53)
    assert sorted(set(produced)) == [21, 22]
    produced.clear()
    out.get_frame(out.num_frames - 1)  # held past the end: the last pair only
    assert sorted(set(produced)) == [48, 49]


def test_ctrl_c_during_filter_creation_is_an_interrupted_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from vsinr.serving import tasks

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tasks, "plan", interrupted)
    # an exception cannot unwind through VapourSynth's C call: the call fails with a clear error instead
    assert error_of(lambda: STVSR(noise_clip(), 2, 2)) == "STVSR: interrupted"


def test_ctrl_c_is_held_until_the_creation_is_whole() -> None:
    """A real SIGINT in the middle of a creation (an import, a model load) does not cut it short: the
    creation finishes, then the call fails as "interrupted", and the process goes on working."""
    import sys

    from conftest import run

    script = (
        "import os, signal, vapoursynth as vs\n"
        "from vsinr.serving import tasks\n"
        "real, done = tasks.plan, []\n"
        "def plan(*args, **kwargs):\n"
        "    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, halfway\n"
        "    result = real(*args, **kwargs)\n"
        "    done.append(1)\n"
        "    return result\n"
        "tasks.plan = plan\n"
        "clip = vs.core.std.BlankClip(format=vs.RGBS, width=32, height=24, length=4)\n"
        "try:\n"
        "    vs.core.vsinr.STVSR(clip, 2, 2, method='classic')\n"
        "except vs.Error as exc:\n"
        "    print('ERROR', exc)\n"
        "print('WHOLE', len(done))\n"
        "tasks.plan = real\n"
        "vs.core.vsinr.STVSR(clip, 2, 2, method='classic').get_frame(0)\n"
        "print('AFTER OK')\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT)  # outside a creation: a KeyboardInterrupt as usual\n"
        "    sum(range(10**6))\n"
        "except KeyboardInterrupt:\n"
        "    print('INTERRUPT')\n"
    )
    done = run([sys.executable, "-c", script])
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.decode().split("\n")[:4] == ["ERROR STVSR: interrupted", "WHOLE 1", "AFTER OK", "INTERRUPT"]


def test_a_huge_rate_factor_serves_frames_without_making_whole_windows() -> None:
    src = noise_clip(width=16, height=12, length=3)
    out = Interpolate(src, 100000)  # 100,000 outputs per window: made 16 at a time
    assert out.num_frames == 300000
    got = planes(out.get_frame(150000))  # halfway between source frames 1 and 2
    want = lerp(planes(src.get_frame(1)), planes(src.get_frame(2)), 0.5)
    assert np.allclose(got, want, atol=1e-6)
