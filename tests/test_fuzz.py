"""A bounded run of the .vsnerv fuzzer (scripts/fuzz_vsnerv.py; run it for long on demand): damaged and
forged files through the reader, the clip opener and ``core.vsinr.Decode`` give CodecErrors or
vs.Errors only, never another exception, a hang or an abort."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ROOT, run


@pytest.mark.heavy  # 3,000 files through the reader and 300 through Decode: about 10 s on 2 cores
def test_fuzzed_files_are_read_or_refused_cleanly() -> None:
    done = run([sys.executable, str(ROOT / "scripts" / "fuzz_vsnerv.py"), "--executions", "3000", "--decode", "300",
                "--seed", "3", "--keep", "fuzz-bugs"])
    assert done.returncode == 0, done.stderr.decode()[-3000:]  # not 1 (a bug) nor 134 (an abort)
    reader, decode = (json.loads(line) for line in done.stdout.decode().splitlines())
    assert reader["reader"]["executions"] == 3000 and reader["reader"]["bugs"] == 0
    assert reader["reader"]["read"] > 0 and reader["reader"]["refused"] > 0  # both paths were exercised
    assert decode["decode"]["executions"] == 300 and decode["decode"]["bugs"] == 0
