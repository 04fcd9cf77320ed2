"""The committed corpus of hostile files (``tests/data/hostile``, made by scripts/make_hostile_corpus.py):
each forged ``.vsnerv`` is a ``CodecError`` from the reader and a ``vs.Error`` from ``core.vsinr.Decode``
(never an abort of the host), each forged weights file a ``vs.Error`` when the filter is created."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import run

CORPUS = Path(__file__).resolve().parent / "data" / "hostile"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text())
CODEC_FILES = sorted(name for name in EXPECTED if name.endswith(".vsnerv"))
WEIGHTS_FILES = sorted(name for name in EXPECTED if name.endswith(".safetensors"))


def test_the_corpus_is_complete() -> None:
    assert {p.name for p in CORPUS.iterdir()} == {*EXPECTED, "expected.json", "valid.vsnerv", "README.md"}
    assert len(CODEC_FILES) >= 17 and len(WEIGHTS_FILES) >= 7


@pytest.mark.parametrize("name", CODEC_FILES)
def test_the_reader_refuses_each_forged_file(name: str) -> None:
    from vsinr_snerv import compress
    from vsinr_snerv.vsnerv import CodecError

    with pytest.raises(CodecError, match=EXPECTED[name]):
        compress.open_file(CORPUS / name)


def test_decode_refuses_every_forged_file_without_taking_the_host_down() -> None:
    script = (
        "import sys, vapoursynth as vs\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        vs.core.vsinr.Decode(path).get_frame(0)\n"
        "        print('DECODED', path)\n"
        "    except vs.Error as exc:\n"
        "        print('REFUSED', path, str(exc).replace(chr(10), ' '))\n"
    )
    paths = [str(CORPUS / name) for name in CODEC_FILES] + [str(CORPUS / "valid.vsnerv")]
    done = run([sys.executable, "-c", script, *paths])
    assert done.returncode == 0, done.stderr.decode()[-2000:]  # not 134 (SIGABRT) or 139 (SIGSEGV)
    lines = dict(line.split(" ", 1)[1].split(" ", 1) if line.startswith("REFUSED") else (line.split(" ", 1)[1], "")
                 for line in done.stdout.decode().splitlines())
    for name in CODEC_FILES:
        assert EXPECTED[name] in lines[str(CORPUS / name)], (name, lines[str(CORPUS / name)])
    assert f"DECODED {CORPUS / 'valid.vsnerv'}" in done.stdout.decode()


@pytest.mark.parametrize("name", WEIGHTS_FILES)
def test_each_forged_weights_file_is_refused_when_the_filter_is_created(name: str) -> None:
    import vapoursynth as vs
    from conftest import noise_clip

    with pytest.raises(vs.Error, match=EXPECTED[name]):
        vs.core.vsinr.STVSR(noise_clip(), 2, 2, method="videoinr", weights=str(CORPUS / name))
