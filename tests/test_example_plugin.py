"""The example plugin package of docs/plugins.md, installed with pip as a user would, then used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run

EXAMPLE = ROOT / "examples" / "vsinr-lerp"

SCRIPT = """
import sys
from fractions import Fraction
import numpy as np
import vapoursynth as vs
from vsinr.io import media

rng = np.random.default_rng(0)
frames = [0.4 + 0.2 * rng.random((3, 12, 16), dtype=np.float32) for _ in range(3)]  # no clipping
clip = media.clip_from_arrays(frames, Fraction(24))
out = vs.core.vsinr.STVSR(clip, 2, 2, method="lerp")
up = media.read_frames(vs.core.resize.Bicubic(clip, 32, 24))  # not the same kernel: compare loosely
got = media.read_frames(out)
assert (out.width, out.height, out.num_frames, out.fps) == (32, 24, 6, 48)
assert np.allclose(got[3], (got[2] + got[4]) / 2, atol=1e-6)  # halfway: the mean of its neighbours
assert abs(float(np.mean(got[2] - up[1]))) < 0.02
try:
    vs.core.vsinr.STVSR(clip, 2, 2, method="lerp", sharpen=9.0).get_frame(0)
except vs.Error as exc:
    assert "sharpen=9.0 is out of range" in str(exc), exc
else:
    raise AssertionError("sharpen=9 was accepted")
print("ok", file=sys.stderr)
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed by pip into a folder of its own (no dependencies: vsinr is this checkout)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(target), str(EXAMPLE)], check=True, capture_output=True, timeout=300,
                   env=dict(os.environ, TMPDIR=str(build), PIP_NO_CACHE_DIR="1"))
    return target


def test_the_example_plugin_installs_lists_and_renders(installed: Path) -> None:
    env = {"PYTHONPATH": str(installed)}
    listed = run(["vsinr", "list-plugins", "--json"], env=env)
    assert listed.returncode == 0, listed.stderr.decode()
    entries = {p["name"]: p for p in json.loads(listed.stdout)}
    assert entries["lerp"]["status"] == "ok" and entries["lerp"]["distribution"] == "vsinr-lerp"
    assert entries["lerp"]["methods"][0]["params"][0]["name"] == "sharpen"
    used = run([sys.executable, "-c", SCRIPT], env=env)
    assert used.returncode == 0 and b"ok" in used.stderr, used.stderr.decode()[-3000:]
