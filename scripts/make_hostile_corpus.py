"""Write the regression corpus of hostile files: forged ``.vsnerv`` files (valid checksums, hostile
fields) and forged weights files, each with the error it must give, into ``tests/data/hostile/``.

    python scripts/make_hostile_corpus.py [--out tests/data/hostile]

``tests/test_hostile_corpus.py`` opens every file through the reader, ``core.vsinr.Decode`` and the
weights loader. The files are made once and committed, so the tests read the same bytes on every
machine; rerun this script only to add cases.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def _vsnerv_cases() -> dict[str, tuple[Callable[[dict[str, Any], dict[str, Any]], None], str]]:
    def model(**fields: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
        return lambda info, arrays: info["model"].update(fields)

    return {
        "size-0x0": (lambda info, arrays: info.update(size=[0, 0]), "not a whole number from 1"),
        "size-100000": (lambda info, arrays: info.update(size=[100000, 100000]), "not a whole number from 1"),
        "size-negative": (lambda info, arrays: info.update(size=[-8, -8]), "not a whole number from 1"),
        "fps-1e30": (lambda info, arrays: info.update(fps=[10**30, 1]), "fps holds"),
        "fps-fraction": (lambda info, arrays: info.update(fps=[24.5, 1]), "fps holds"),
        "frames-2e63": (lambda info, arrays: info.update(frames=2**63), "frames holds"),
        "fc-dim-4000": (model(fc_dim=4000), "does not fit this model"),
        "no-fc-dim": (lambda info, arrays: info["model"].pop("fc_dim"), "no field 'fc_dim'"),
        "embedding-2e40": (model(embed_size=[2**40, 2**40]), "disagree"),
        "padded-negative": (model(padded=[-8, -8]), "disagree"),
        "six-strides": (model(strides=[1, 1, 1, 1, 1, 1]), "not five from 1 to 8"),
        "strides-5000": (model(strides=[5000, 1, 1, 1, 1]), "not five from 1 to 8"),
        "one-frame-too-many": (lambda info, arrays: info.update(frames=3), "does not fit this model"),
        "embeddings-rank": (
            lambda info, arrays: arrays.update(embeddings=np.asarray(arrays["embeddings"])[:, :1]), "does not fit"),
        "norms-shape": (lambda info, arrays: arrays.update(norms=np.zeros((2, 3))), "does not fit"),
    }


def _weights_cases(folder: Path) -> dict[str, str]:
    """Forged videoinr weights files: a huge declared configuration, bool and integer tensors,
    non-finite values, configuration values of the wrong kind. Returns {file name: expected message}."""
    import sys

    sys.path.insert(0, str(ROOT / "plugins"))
    from vsinr_videoinr.arch import CONFIGS, VideoINR
    from vsinr_videoinr.flowinr import FlowINR, FlowINRConfig

    from vsinr.runtime import weights

    flow = FlowINR(FlowINRConfig(nf=8, blocks=1, hidden=8))
    state = dict(flow.state_dict())
    config = dict(flow.config)
    cases: dict[str, str] = {}

    def write(name: str, tensors: dict[str, torch.Tensor], cfg: dict[str, Any], expected: str) -> None:
        path = folder / f"{name}.safetensors"
        weights.save(path, tensors, "videoinr", cfg, half=name.endswith("-text") or "evil" in name)
        cases[path.name] = expected

    write("config-nf-4096", state, {**config, "nf": 4096}, "does not fit this model")
    write("bool-tensors", {k: v > 0 for k, v in state.items()}, config, "expected floating point")
    write("int-tensors", {k: v.to(torch.int32) for k, v in state.items()}, config, "expected floating point")
    first = next(iter(state))
    write("nan-values", {**state, first: torch.full_like(state[first], float("nan"))}, config, "NaN or infinite")
    write("blocks-text", state, {**config, "blocks": "1"}, "blocks must be a whole number")
    tiny = VideoINR(**CONFIGS["tiny"])
    write("hr-input-evil", dict(tiny.state_dict()), {**tiny.config, "hr_input": "evil"}, "hr_input must be")
    write("residual-text", dict(tiny.state_dict()), {**tiny.config, "residual": "yes"}, "residual must be true or false")
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "hostile")
    args = parser.parse_args()
    import sys

    sys.path.insert(0, str(ROOT / "plugins"))
    from vsinr_snerv import compress
    from vsinr_snerv.vsnerv import container

    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    base = args.out / "valid.vsnerv"
    compress.encode(torch.rand(2, 3, 8, 8), Fraction(24), base, size=50000, epochs=1)
    expected: dict[str, str] = {}
    for name, (change, message) in _vsnerv_cases().items():
        info, arrays = container.load(base)
        change(info, arrays)
        target = args.out / f"{name}.vsnerv"
        container.save(target, info, {k: (np.asarray(v, np.float32), 8) for k, v in arrays.items()})
        expected[target.name] = message
    (args.out / "empty.vsnerv").write_bytes(b"")
    expected["empty.vsnerv"] = "empty"
    bomb = args.out / "amplification.vsnerv"
    container.save(bomb, {"format": "x"}, {"zeros": (np.zeros((4096, 4096), np.float32), 2)})
    expected[bomb.name] = "more than any encoder writes"
    expected.update(_weights_cases(args.out))
    (args.out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"{len(expected)} hostile files and valid.vsnerv in {args.out} ({total / 1024:.0f} KiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
