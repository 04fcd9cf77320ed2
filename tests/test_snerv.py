"""SNeRV's codec through the command line and ``core.vsinr.Decode`` (the model, fitting and the container's round
trip without VapourSynth: ``tests/unit/test_snerv_model.py``)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from vsinr_snerv import compress

from vsinr.app.cli import cli

pytestmark = pytest.mark.slow  # fits representations to clips


def test_cli_encode_and_decode(tmp_path: Path, monkeypatch):
    from vsinr.io import media

    rng = np.random.default_rng(0)
    source = tmp_path / "in.mkv"
    clip = media.clip_from_arrays([rng.random((3, 16, 16), dtype=np.float32) for _ in range(3)], Fraction(24))
    media.encode(clip, source, codec="ffv1", crf=0)
    runner = CliRunner()
    small = runner.invoke(cli, ["encode", str(source), "-o", str(tmp_path / "c.vsnerv"), "--size", "2000"])
    assert small.exit_code == 1 and "give size=" in small.output and not (tmp_path / "c.vsnerv").exists()
    out = runner.invoke(cli, ["encode", str(source), "-o", str(tmp_path / "c.vsnerv"), "--size", "50000", "--epochs", "1",
                              "--device", "cpu"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["bpp"] > 0 and (tmp_path / "c.vsnerv").is_file()
    out = runner.invoke(cli, ["decode", str(tmp_path / "c.vsnerv"), "-o", str(tmp_path / "d.mkv"), "--device", "cpu"])
    assert out.exit_code == 0, out.output
    assert len(media.read_frames(media.open_source(tmp_path / "d.mkv"))) == 3
    (tmp_path / "junk.vsnerv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    out = runner.invoke(cli, ["decode", str(tmp_path / "junk.vsnerv"), "-o", str(tmp_path / "e.mkv")])
    assert out.exit_code != 0 and "not a vsinr" in out.output and not (tmp_path / "e.mkv").exists()


def _forged(path: Path, target: Path, change) -> Path:  # type: ignore[no-untyped-def]
    """``path``'s file rewritten, with a valid checksum, after ``change(info, arrays)``."""
    from vsinr_snerv.vsnerv import container

    info, arrays = container.load(path)
    change(info, arrays)
    container.save(target, info, {k: (np.asarray(v, np.float32), 8) for k, v in arrays.items()})
    return target


@pytest.mark.heavy
def test_decode_of_a_forged_file_is_an_error_not_an_abort(tmp_path: Path) -> None:
    import sys

    from conftest import run

    torch.manual_seed(0)
    path = tmp_path / "clip.vsnerv"
    compress.encode(torch.rand(2, 3, 8, 8), Fraction(24), path, size=50000, epochs=1)
    forged = _forged(path, tmp_path / "zero.vsnerv", lambda info, arrays: info.update(size=[0, 0]))
    script = ("import vapoursynth as vs, sys\n"
              f"try:\n    vs.core.vsinr.Decode({str(forged)!r}).get_frame(0)\n"
              "except vs.Error as exc:\n    print(exc, file=sys.stderr)\n")
    done = run([sys.executable, "-c", script])
    assert done.returncode == 0, done.stderr.decode()[-2000:]  # not 134 (SIGABRT)
    assert b"Decode: " in done.stderr and b"size holds 0" in done.stderr
    decoded = run(["vsinr", "decode", str(forged), "-o", str(tmp_path / "out.mkv")])
    assert decoded.returncode == 1 and b"size holds 0" in decoded.stderr and not (tmp_path / "out.mkv").exists()
