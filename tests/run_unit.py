"""Run the unit layer (``tests/unit``) with VapourSynth unimportable, which proves it needs none.

    python tests/run_unit.py [pytest options]      e.g. -n 2: two processes (pytest-xdist)

Worker processes of pytest-xdist do not inherit ``sys.modules``: ``VSINR_TESTS_WITHOUT_VAPOURSYNTH`` tells
``tests/conftest.py`` to make VapourSynth unimportable in each of them as well.
"""

import os
import sys
from pathlib import Path

os.environ["VSINR_TESTS_WITHOUT_VAPOURSYNTH"] = "1"
sys.modules["vapoursynth"] = None  # type: ignore[assignment]  # every import of it now fails

import pytest  # noqa: E402

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", str(Path(__file__).resolve().parent / "unit"), *sys.argv[1:]]))
