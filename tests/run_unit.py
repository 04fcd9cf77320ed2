"""Run the unit layer (``tests/unit``) with VapourSynth unimportable, which proves it needs none.

    python tests/run_unit.py [pytest options]
"""

import sys
from pathlib import Path

sys.modules["vapoursynth"] = None  # type: ignore[assignment]  # every import of it now fails

import pytest  # noqa: E402

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", str(Path(__file__).resolve().parent / "unit"), *sys.argv[1:]]))
