"""Fuzz the .vsnerv reader: mutated and forged files must open, or fail with ``CodecError`` only.

    python scripts/fuzz_vsnerv.py --executions 1000000 --decode 10000 [--open-every 1] [--seed 0] [--memory-gb 2]

Each execution takes a valid small file and damages it one of three ways: random bytes changed,
inserted or cut (caught by the checksum or the length checks), or a forged file with a valid checksum
whose header has one field replaced by a hostile value (a negative or huge size, a float, a string, a
list, an enormous shape...). The container reader must return or raise ``CodecError``; every
``--open-every``-th file that it reads (1: all) is opened as a clip and its first and last frames are decoded,
which must give finite frames of the declared size or a ``CodecError``. Anything else is a bug: the
file is written to ``--keep`` and counted. ``--decode N`` then plays N such files through
``core.vsinr.Decode`` end to end. ``--memory-gb`` limits the address space to that much beyond what the
process maps once torch, VapourSynth and the plugin are loaded. The test
suite runs a few thousand executions (``tests/test_fuzz.py``).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import struct
import sys
import time
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

HOSTILE: list[Any] = [0, -1, -8, 1, 2, 3, 7, 2**31, 2**63, 10**30, 1e308, 24.5, float("nan"), "", "x", None, True,
                      [], [0], [0, 0], [-8, -8], [100000, 100000], [1, 2, 3], {"a": 1}, [[1]], [2**40, 2**40]]


def seed_file(directory: Path) -> bytes:
    """A valid 2-frame 8×8 .vsnerv file."""
    from vsinr_snerv import compress

    torch.manual_seed(0)
    path = directory / "seed.vsnerv"
    compress.encode(torch.rand(2, 3, 8, 8), Fraction(24), path, size=50000, epochs=1)
    return path.read_bytes()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a leaf or a container of a JSON value."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def forge(data: bytes, rng: random.Random) -> bytes:
    """``data`` with one header field replaced by a hostile value, under a valid checksum."""
    prefix = struct.Struct("<8sHI")
    magic, version, size = prefix.unpack_from(data)
    header = json.loads(zlib.decompress(data[prefix.size:prefix.size + size]))
    path = rng.choice(_paths(header)[1:])
    target = header
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = rng.choice(HOSTILE)
    text = zlib.compress(json.dumps(header).encode(), 9)
    body = prefix.pack(magic, version, len(text)) + text + data[prefix.size + size:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def mutate(data: bytes, rng: random.Random) -> bytes:
    """``data`` with a few random bytes changed, inserted or cut."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        where = rng.randrange(len(out) + 1)
        kind = rng.random()
        if kind < 0.6 and out:
            out[min(where, len(out) - 1)] = rng.randrange(256)
        elif kind < 0.8:
            out[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            del out[where:where + rng.randint(1, 64)]
    return bytes(out)


def run(executions: int, open_every: int, seed: int, keep: Path | None, log: Callable[[str], None]) -> dict[str, int]:
    """Fuzz for ``executions`` files; returns the counts (``bugs`` must be 0)."""
    import tempfile

    from vsinr_snerv import compress
    from vsinr_snerv.vsnerv import CodecError, container

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        original = seed_file(Path(folder))
    counts = {"executions": 0, "read": 0, "refused": 0, "opened": 0, "decoded": 0, "bugs": 0, "slow": 0}
    started = time.monotonic()
    for n in range(executions):
        data = forge(original, rng) if rng.random() < 0.5 else mutate(original, rng)
        begun = time.monotonic()
        try:
            info, arrays = container.unpack(data, "fuzzed")
            counts["read"] += 1
            if counts["read"] % open_every == 0:
                clip = compress.DecodedClip(Path("fuzzed"), info, compress._tensors(arrays))
                counts["opened"] += 1
                for index in (0, clip.num_frames - 1):
                    frame = clip.frame(index)
                    if frame.shape != (3, clip.height, clip.width) or not bool(torch.isfinite(frame).all()):
                        raise AssertionError(f"frame {index} is {tuple(frame.shape)} or not finite")
                counts["decoded"] += 1
        except CodecError:
            counts["refused"] += 1
        except Exception as exc:  # anything but the documented error is a bug
            counts["bugs"] += 1
            log(f"bug at execution {n}: {type(exc).__name__}: {exc}")
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"bug-{n}.vsnerv").write_bytes(data)
        if time.monotonic() - begun > 10:
            counts["slow"] += 1
        counts["executions"] += 1
        if (n + 1) % 100000 == 0:
            log(f"{n + 1} executions, {counts}, {time.monotonic() - started:.0f} s")
    return counts


def run_decode(executions: int, seed: int, log: Callable[[str], None]) -> dict[str, int]:
    """``executions`` damaged or forged files through ``core.vsinr.Decode``: each must play or give a
    ``vs.Error``; a host abort ends this process (the caller sees its exit status)."""
    import tempfile

    import vapoursynth as vs

    rng = random.Random(seed)
    counts = {"executions": 0, "played": 0, "refused": 0, "bugs": 0, "slow": 0}
    with tempfile.TemporaryDirectory() as folder:
        original = seed_file(Path(folder))
        path = Path(folder) / "fuzzed.vsnerv"
        for n in range(executions):
            path.write_bytes(forge(original, rng) if rng.random() < 0.5 else mutate(original, rng))
            begun = time.monotonic()
            try:
                clip = vs.core.vsinr.Decode(str(path))
                clip.get_frame(0)
                clip.get_frame(clip.num_frames - 1)
                counts["played"] += 1
            except vs.Error:
                counts["refused"] += 1
            except Exception as exc:
                counts["bugs"] += 1
                log(f"bug at execution {n}: {type(exc).__name__}: {exc}")
            if time.monotonic() - begun > 10:
                counts["slow"] += 1
            counts["executions"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=100000)
    parser.add_argument("--open-every", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=Path("fuzz-bugs"))
    parser.add_argument("--memory-gb", type=float, default=0.0,
                        help="address space allowed beyond what the loaded process maps (0: no limit)")
    parser.add_argument("--decode", type=int, default=0, help="then this many files through core.vsinr.Decode")
    args = parser.parse_args()
    if args.memory_gb:  # torch's CUDA build maps several GB on import: the limit counts from there
        import vapoursynth  # noqa: F401
        from vsinr_snerv import compress  # noqa: F401

        with open("/proc/self/status") as status:
            mapped = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
        limit = mapped + int(args.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    started = time.monotonic()
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731
    counts = run(args.executions, args.open_every, args.seed, args.keep, say)
    print(json.dumps({"reader": counts, "seconds": round(time.monotonic() - started, 1)}), flush=True)
    bugs = counts["bugs"]
    if args.decode:
        started = time.monotonic()
        decoded = run_decode(args.decode, args.seed + 1, say)
        print(json.dumps({"decode": decoded, "seconds": round(time.monotonic() - started, 1)}), flush=True)
        bugs += decoded["bugs"]
    sys.exit(1 if bugs else 0)


if __name__ == "__main__":
    main()
