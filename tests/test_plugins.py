"""Third-party plugins through the ``vsinr`` entry-point group, broken plugins, and import hygiene."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run

FAKE = '''
"""A plugin that exists only in the tests: nearest-frame ×4 space, ×2 time, with a gain parameter."""
from fractions import Fraction
from vsinr.host.hookspecs import hookimpl
from vsinr.host.methods import PAIRS, MethodSpec, Param, TaskSupport

__version__ = "9.9.9"

class Engine:
    layout = PAIRS

    def __init__(self, gain):
        if gain < 0:
            raise FileNotFoundError("weights for gain < 0 are missing: pass weights=PATH")
        self.gain = gain

    def render(self, frames, times, out, cuts=frozenset()):
        import torch.nn.functional as F
        if self.gain == 13:
            raise RuntimeError("unlucky gain")
        for t, target in zip(times, out):
            up = F.interpolate(frames[round(t)][None], size=tuple(target.shape[-2:]), mode="nearest")[0]
            target.copy_(up * self.gain)

@hookimpl
def vsinr_methods():
    return [MethodSpec(
        name="fake", version=__version__, summary="test double",
        tasks={"stvsr": TaskSupport(priority=1000, sscales=(Fraction(4),), tscales=(Fraction(2),))},
        params=(Param(name="fake_gain", type="float", default=1.0),),
        load=lambda request: Engine(request.param("fake_gain")),
    )]
'''

BROKEN = "raise ImportError('fake dependency missing: install vsinr-broken[gpu]')\n"


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A folder on PYTHONPATH holding two installed-looking distributions with vsinr entry points."""
    (tmp_path / "vsinr_fake.py").write_text(FAKE)
    (tmp_path / "vsinr_broken.py").write_text(BROKEN)
    for dist, module in (("vsinr_fake", "vsinr_fake"), ("vsinr_broken", "vsinr_broken")):
        info = tmp_path / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[vsinr]\n{dist.removeprefix('vsinr_')} = {module}\n")
    return tmp_path


def test_list_plugins_shows_third_party_and_broken(plugin_path: Path) -> None:
    result = run(["vsinr", "list-plugins", "--json"], env={"PYTHONPATH": str(plugin_path)})
    assert result.returncode == 0, result.stderr.decode()
    listed = {p["name"]: p for p in json.loads(result.stdout)}
    assert listed["classic"]["status"] == "ok" and listed["classic"]["tasks"] == ["interpolate", "stvsr"]
    assert listed["fake"]["status"] == "ok" and listed["fake"]["version"] == "9.9.9"
    assert listed["fake"]["tasks"] == ["stvsr"]
    assert listed["broken"]["status"] == "error"
    assert "fake dependency missing" in listed["broken"]["error"]
    table = run(["vsinr", "list-plugins"], env={"PYTHONPATH": str(plugin_path)}).stdout.decode()
    assert "fake dependency missing" in table and "classic" in table


CALLS = textwrap.dedent(
    """
    import vapoursynth as vs
    from vapoursynth import core
    clip = core.std.BlankClip(width=16, height=12, format=vs.RGBS, length=4, color=[0.25, 0.5, 0.75])
    assert "fake_gain:float:opt" in core.vsinr.STVSR.signature
    auto = core.vsinr.STVSR(clip, 4, 2, fake_gain=2.0)           # highest priority for (4, 2): fake
    assert (auto.width, auto.num_frames) == (64, 8)
    assert abs(auto.get_frame(3)[1][0, 0] - 1.0) < 1e-6
    assert core.vsinr.STVSR(clip, 2, 2).width == 32              # fake cannot: the next one takes over
    try:
        core.vsinr.STVSR(clip, 2, 2, method="fake")
    except vs.Error as exc:
        print(exc)
    try:
        core.vsinr.STVSR(clip, 2, 2, method="classic", fake_gain=3.0)
    except vs.Error as exc:
        print(exc)
    try:
        core.vsinr.STVSR(clip, 4, 2, fake_gain=-1.0)
    except vs.Error as exc:
        print(exc.args[0].splitlines()[0])
    failing = core.vsinr.STVSR(clip, 4, 2, fake_gain=13.0)
    try:
        failing.get_frame(2)
    except vs.Error as exc:
        print(exc.args[0].splitlines()[0])
    assert core.vsinr.STVSR(clip, 4, 2).get_frame(2).width == 64  # the host carries on
    print("alive")
    """
)


def test_third_party_method_is_callable_and_constrained(plugin_path: Path) -> None:
    result = run([sys.executable, "-c", CALLS], env={"PYTHONPATH": str(plugin_path)})
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert lines[0] == (
        "STVSR: method 'fake' cannot do this: spatial scale 2 is not supported (it does 4); methods that can: videoinr, classic, ofsiren"
    )
    assert lines[1] == "STVSR: fake_gain is not a parameter of method 'classic'"
    assert lines[2] == (
        "STVSR: method 'fake' failed to load: FileNotFoundError: weights for gain < 0 are missing: pass weights=PATH"
    )
    assert lines[3] == "STVSR: frame 2: RuntimeError('unlucky gain')"
    assert lines[4] == "alive"


def test_importing_vsinr_and_registering_does_not_import_torch() -> None:
    code = (
        "import sys, vsinr, vsinr.bridge, vsinr.app.cli\n"
        "import vapoursynth as vs\n"
        "assert 'STVSR' in [f.name for f in vs.core.vsinr.functions()]\n"
        "assert 'torch' not in sys.modules, 'torch imported at registration'\n"
    )
    result = run([sys.executable, "-c", code])
    assert result.returncode == 0, result.stderr.decode()
