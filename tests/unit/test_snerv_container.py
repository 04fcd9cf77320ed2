"""SNeRV file format: the quantiser's error bound and range choice, the rANS coder's exactness,
efficiency and robustness, bit-exact pack → unpack, damaged and foreign files, atomic saves."""

from __future__ import annotations

import json
import os
import struct
import time
import zlib

import numpy as np
import pytest
from vsinr_snerv.vsnerv import CodecError, container, entropy, quantise


def peaked(count: int, seed: int = 0, width: float = 2.5) -> np.ndarray:
    """6-bit symbols around 32 with a Laplacian spread, like quantised weights."""
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.laplace(32, width, count)), 0, 63).astype(np.uint8)


def entropy_bytes(symbols: np.ndarray) -> float:
    """Empirical order-0 entropy of ``symbols`` in bytes."""
    p = np.bincount(symbols, minlength=256) / symbols.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum()) * symbols.size / 8


def decodes_or_codec_error(call, *args) -> object:
    """Run ``call``; a CodecError is fine and returns None, any other exception fails the test."""
    try:
        return call(*args)
    except CodecError:
        return None


def header_of(data: bytes) -> dict:
    _, version, size = struct.unpack_from("<8sHI", data)
    text = data[14:14 + size]
    return json.loads(zlib.decompress(text) if version >= 2 else text)


def reseal(body: bytes) -> bytes:
    """``body`` (a file without its checksum) with a valid checksum appended."""
    return body + struct.pack("<I", zlib.crc32(body))


def forge(header: dict | bytes, payload: bytes, version: int = container.FORMAT_VERSION, deflate: bool = True) -> bytes:
    """A file with any header and payload and a valid checksum: what a hostile writer could make.
    The header is deflated as the format version asks, unless ``deflate`` is False."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    if version >= 2 and deflate:
        text = zlib.compress(text)
    return reseal(struct.pack("<8sHI", container.MAGIC, version, len(text)) + text + payload)


# ---------------------------------------------------------------------------------------------------
# Quantiser


def step_of(q: quantise.Quantised) -> np.ndarray:
    """Each element's quantisation step, broadcast to the tensor's shape."""
    scales = q.scales.astype(np.float64)
    if q.axis is not None:
        scales = np.expand_dims(scales, q.axis)
    return np.broadcast_to(scales, q.shape)


@pytest.mark.parametrize("bits", [6, 8])
@pytest.mark.parametrize("shape", [(64, 8, 3, 3), (16, 8), (60, 4, 3, 5), (7,)])
def test_quantise_error_within_half_a_step(bits: int, shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(1).normal(0, 0.1, shape).astype(np.float32)
    q = quantise.quantise(x, bits)
    assert q.symbols.dtype == np.uint8 and q.symbols.shape == shape and q.shape == shape
    assert int(q.symbols.max()) <= (1 << bits) - 1
    y = quantise.dequantise(q)
    assert y.dtype == np.float32 and y.shape == shape
    # half a step, plus float32 rounding of symbol·scale + min
    bound = step_of(q) / 2 * (1 + 1e-5) + 1e-6 * np.abs(x)
    assert (np.abs(y.astype(np.float64) - x) <= bound).all()


@pytest.mark.parametrize("shape", [(5, 7), (120, 3), ()])
def test_constant_tensor_is_exact(shape: tuple[int, ...]) -> None:
    x = np.full(shape, 0.3712, np.float32)
    q = quantise.quantise(x, 6)
    assert q.axis is None
    assert np.array_equal(quantise.dequantise(q), x)


def test_per_axis_ranges_chosen_when_slices_differ() -> None:
    rng = np.random.default_rng(2)
    # Along axis 0 (64 output channels) each of the 8·3·3 slices has its own spread, over three decades.
    spread = 10.0 ** rng.uniform(-3, 0, (8, 3, 3))
    w = (rng.normal(size=(64, 8, 3, 3)) * spread).astype(np.float32)
    q = quantise.quantise(w, 6)
    assert q.axis == 0
    assert q.mins.dtype == np.float16 and q.mins.shape == (8, 3, 3) and q.scales.shape == (8, 3, 3)
    whole = quantise.quantise(w[:50], 6)  # no axis longer than 50: whole-tensor range only
    assert whole.axis is None
    assert np.abs(quantise.dequantise(q) - w).mean() < np.abs(quantise.dequantise(whole) - w[:50]).mean() / 5


def test_whole_tensor_range_chosen_when_slices_alike() -> None:
    rng = np.random.default_rng(3)
    w = rng.uniform(-1, 1, (64, 8, 3, 3)).astype(np.float32)
    # every slice along axis 0 spans the whole range, so per-slice ranges cannot do better
    w[0], w[1] = -1, 1
    q = quantise.quantise(w, 8)
    assert q.axis is None and q.mins.dtype == np.float32 and q.mins.shape == ()


@pytest.mark.parametrize("bad", [1, 9, True, 6.0])
def test_quantise_rejects_bad_bits(bad: object) -> None:
    with pytest.raises(CodecError, match="bits"):
        quantise.quantise(np.ones(4, np.float32), bad)


@pytest.mark.parametrize("values", [np.array([1.0, np.nan]), np.array([np.inf]), np.zeros((3, 0)),
                                    np.array(["a"])])
def test_quantise_rejects_bad_values(values: np.ndarray) -> None:
    with pytest.raises(CodecError):
        quantise.quantise(values, 8)


# ---------------------------------------------------------------------------------------------------
# Entropy coder


@pytest.mark.parametrize("symbols", [
    peaked(20000, seed=4),
    np.random.default_rng(5).integers(0, 256, 5000).astype(np.uint8),
    np.full(1000, 17, np.uint8),
    np.array([255], np.uint8),
    np.zeros(0, np.uint8),
], ids=["peaked", "uniform", "all-equal", "single", "empty"])
def test_entropy_round_trip(symbols: np.ndarray) -> None:
    data = entropy.entropy_encode(symbols)
    out = entropy.entropy_decode(data, symbols.size)
    assert out.dtype == np.uint8 and np.array_equal(out, symbols)


@pytest.mark.parametrize("symbols", [
    peaked(1_000_000, seed=6),
    np.where(np.random.default_rng(7).random(1_000_000) < 0.95, 0, peaked(1_000_000, seed=8)).astype(np.uint8),
], ids=["laplacian-6bit", "95%-one-symbol"])
def test_entropy_coder_near_entropy(symbols: np.ndarray) -> None:
    data = entropy.entropy_encode(symbols)
    assert len(data) <= 1.02 * entropy_bytes(symbols)  # table and final state included
    assert np.array_equal(entropy.entropy_decode(data, symbols.size), symbols)


def test_entropy_coder_speed() -> None:
    symbols = peaked(3_000_000, seed=9)
    entropy.entropy_decode(entropy.entropy_encode(symbols[:100]), 100)  # compiled (or loaded from cache) first
    start = time.perf_counter()
    out = entropy.entropy_decode(entropy.entropy_encode(symbols), symbols.size)
    assert time.perf_counter() - start < 5  # about 0.05 s on one core
    assert np.array_equal(out, symbols)


def test_entropy_decoder_survives_any_bytes() -> None:
    rng = np.random.default_rng(10)
    symbols = peaked(300, seed=11)
    data = entropy.entropy_encode(symbols)
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0xFF
        out = decodes_or_codec_error(entropy.entropy_decode, bytes(damaged), symbols.size)
        assert out is None or (out.dtype == np.uint8 and out.shape == (symbols.size,))
    for length in range(len(data)):
        assert decodes_or_codec_error(entropy.entropy_decode, data[:length], symbols.size) is None
    for _ in range(300):
        junk = rng.integers(0, 256, int(rng.integers(0, 80)), dtype=np.uint8).tobytes()
        count = int(rng.integers(0, 2000))
        out = decodes_or_codec_error(entropy.entropy_decode, junk, count)
        assert out is None or out.shape == (count,)
    with pytest.raises(CodecError):
        entropy.entropy_decode(data, symbols.size, alphabet=32)  # symbols up to 63 in a 5-bit stream
    with pytest.raises(CodecError):
        entropy.entropy_decode(b"\x00", 0)


# ---------------------------------------------------------------------------------------------------
# Container


def clip_tensors(frames: int = 60) -> dict[str, tuple[np.ndarray, int]]:
    rng = np.random.default_rng(12)
    spread = 10.0 ** rng.uniform(-2, 0, (16, 3, 3))
    return {
        # trained weights are heavy-tailed: most symbols sit near the middle of the range
        "stem.weight": ((rng.laplace(size=(64, 16, 3, 3)) * spread).astype(np.float32), 8),
        "stem.bias": (rng.normal(0, 0.01, 64).astype(np.float32), 8),
        "head.weight": (rng.normal(0, 0.05, (3, 64, 1, 1)).astype(np.float32), 8),
        "temperature": (np.float32(0.7), 8),
        "embeddings": (rng.laplace(size=(frames, 16, 2, 4)).astype(np.float32), 6),
    }


INFO = {"width": 640, "height": 360, "fps": [25, 1], "frames": 60, "model": {"channels": [64, 16], "act": "gelu"}}


def test_pack_unpack_is_bit_exact() -> None:
    tensors = clip_tensors()
    data = container.pack(INFO, tensors)
    info, out = container.unpack(data)
    expected = container.quantised(tensors)
    assert info == INFO
    assert list(out) == list(tensors)
    for name, values in expected.items():
        assert out[name].dtype == np.float32 and out[name].shape == np.shape(tensors[name][0])
        assert np.array_equal(out[name], values)
    table = {e["name"]: e for e in header_of(data)["tensors"]}
    assert table["stem.weight"]["axis"] == 0 and table["stem.bias"]["axis"] is None
    assert table["embeddings"]["bits"] == 6 and table["embeddings"]["coding"] == "rans"
    assert table["temperature"]["coding"] == "packed"
    # a stream is never longer than its symbols bit-packed: rANS is used only where it is shorter
    for entry in table.values():
        assert entry["stream"] <= (int(np.prod(entry["shape"])) * entry["bits"] + 7) // 8


def test_pack_rejects_bad_input() -> None:
    with pytest.raises(CodecError, match="'w'.*bits"):
        container.pack({}, {"w": (np.ones(3, np.float32), 12)})
    with pytest.raises(CodecError, match="JSON"):
        container.pack({"when": {1, 2}}, {})
    with pytest.raises(CodecError, match="JSON"):
        container.pack({"x": float("nan")}, {})
    with pytest.raises(CodecError, match="dict"):
        container.pack([1], {})
    with pytest.raises(CodecError):
        container.pack({}, {"w": np.ones(3)})


def small_file() -> bytes:
    rng = np.random.default_rng(13)
    sparse = np.zeros(200, np.float32)
    sparse[[5, 77, 150]] = [1.0, -0.5, 0.25]
    tensors = {
        "w": (rng.normal(size=(3, 2, 2, 2)).astype(np.float32), 8),
        "b": (rng.normal(size=3).astype(np.float32), 8),
        "e": (rng.normal(size=(60, 2)).astype(np.float32), 6),
        "s": (sparse, 8),
    }
    data = container.pack({"frames": 60, "size": [8, 8]}, tensors)
    codings = {(e["coding"], e["axis"] is None) for e in header_of(data)["tensors"]}
    assert {("rans", True), ("packed", True), ("packed", False)} <= codings  # every path is exercised
    return data


def test_every_damaged_byte_and_truncation_is_caught() -> None:
    data = small_file()
    assert 200 < len(data) < 1000
    container.unpack(data)
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0xFF
        with pytest.raises(CodecError):
            container.unpack(bytes(damaged), "clip.snerv")
    for length in range(len(data)):
        with pytest.raises(CodecError, match="clip.snerv"):
            container.unpack(data[:length], "clip.snerv")
    for junk in (b"\x00", b"appended junk", data):
        with pytest.raises(CodecError):
            container.unpack(data + junk)


def test_damage_with_a_valid_checksum_is_caught_or_decoded() -> None:
    """A writer that recomputes the checksum: the header and streams are still checked."""
    data = small_file()
    body = data[:-4]
    for i in range(14, len(body)):
        for flip in (0xFF, 0x01):
            damaged = bytearray(body)
            damaged[i] ^= flip
            result = decodes_or_codec_error(container.unpack, reseal(bytes(damaged)))
            if result is not None:
                _, tensors = result
                assert all(v.dtype == np.float32 for v in tensors.values())


def test_forged_headers_are_rejected() -> None:
    data = small_file()
    header = header_of(data)
    size = struct.unpack_from("<I", data, 10)[0]
    payload = data[14 + size:-4]
    assert container.unpack(forge(header, payload))[0] == header["info"]

    def altered(index: int, **changes: object) -> dict:
        copy = json.loads(json.dumps(header))
        copy["tensors"][index].update(changes)
        return copy

    bad = [
        altered(0, shape=[0, 2, 2, 2]), altered(0, shape=[3, 2, 2, True]), altered(0, shape="3x2"),
        altered(0, shape=[1 << 40, 1 << 40]), altered(0, shape=[3, 2, 2, 2.0]), altered(0, bits=9),
        altered(0, bits=1), altered(0, axis=4), altered(0, axis="0"), altered(0, coding="zip"),
        altered(0, stream=-1), altered(0, stream=10 ** 30), altered(0, name=""), altered(1, name="w"),
        altered(0, axis=0), altered(3, shape=[100]), altered(3, bits=5),
        {"info": {}, "tensors": {}}, {"tensors": []}, [1, 2],
    ]
    for forged in bad:
        with pytest.raises(CodecError, match="damaged"):
            container.unpack(forge(forged, payload))
    missing = json.loads(json.dumps(header))
    del missing["tensors"][0]["bits"]
    for text in (json.dumps(missing).encode(), b"{", b"\xff\xfe", b'{"info": NaN, "tensors": []}',
                 b"[" * 100000 + b"]" * 100000):
        with pytest.raises(CodecError, match="damaged"):
            container.unpack(forge(text, payload))
    # a table that does not add up to the payload
    with pytest.raises(CodecError, match="damaged"):
        container.unpack(forge(header, payload + b"\x00"))


def test_version_1_files_are_still_read() -> None:
    """Version 1 stored the header as plain JSON; files written then decode to the same tensors."""
    data = small_file()
    header = header_of(data)
    size = struct.unpack_from("<I", data, 10)[0]
    old = forge(header, data[14 + size:-4], version=1)
    assert len(old) > len(data)  # the deflated header is what version 2 saves
    info, tensors = container.unpack(old)
    new_info, new_tensors = container.unpack(data)
    assert info == new_info and tensors.keys() == new_tensors.keys()
    assert all(np.array_equal(tensors[k], new_tensors[k]) for k in tensors)


def test_deflated_header_is_bounded_and_checked() -> None:
    data = small_file()
    header = header_of(data)
    size = struct.unpack_from("<I", data, 10)[0]
    payload = data[14 + size:-4]
    bomb = zlib.compress(b" " * (container.MAX_HEADER + 1) + json.dumps(header).encode())
    assert len(bomb) < 100_000
    for text in (bomb, json.dumps(header).encode(), zlib.compress(json.dumps(header).encode())[:-3],
                 zlib.compress(json.dumps(header).encode()) + b"x"):
        with pytest.raises(CodecError, match="damaged header"):
            container.unpack(forge(text, payload, deflate=False))


@pytest.mark.parametrize("foreign", [
    b"\x89PNG\r\n\x1a\n" + bytes(100),
    np.random.default_rng(14).integers(0, 256, 500, dtype=np.uint8).tobytes(),
    b"hello, world\n",
])
def test_foreign_file(foreign: bytes) -> None:
    with pytest.raises(CodecError, match="not a vsinr"):
        container.unpack(foreign, "photo.png")


def test_empty_file_is_named() -> None:
    with pytest.raises(CodecError, match=r"clip.vsnerv: the file is empty \(0 bytes\)"):
        container.unpack(b"", "clip.vsnerv")


def test_text_mode_copy_is_named() -> None:
    data = small_file()
    with pytest.raises(CodecError, match="text-mode"):
        container.unpack(data.replace(b"\r\n", b"\n"))


def test_newer_version() -> None:
    data = small_file()
    newer = reseal(data[:8] + struct.pack("<H", container.FORMAT_VERSION + 1) + data[10:-4])
    with pytest.raises(CodecError, match=rf"newer vsinr \(format version {container.FORMAT_VERSION + 1}.*upgrade"):
        container.unpack(newer, "clip.snerv")


# ---------------------------------------------------------------------------------------------------
# Files


def test_save_load(tmp_path) -> None:
    tensors = clip_tensors(frames=8)
    path = tmp_path / "clip.snerv"
    size = container.save(path, INFO, tensors)
    assert size == path.stat().st_size
    info, out = container.load(path)
    assert info == INFO
    assert all(np.array_equal(out[k], v) for k, v in container.quantised(tensors).items())
    assert os.listdir(tmp_path) == ["clip.snerv"]
    with pytest.raises(CodecError, match="missing.snerv: no such file"):
        container.load(tmp_path / "missing.snerv")
    with pytest.raises(CodecError, match="cannot be read"):
        container.load(tmp_path)


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_save_is_atomic(tmp_path, monkeypatch, failing: str) -> None:
    path = tmp_path / "clip.snerv"
    container.save(path, {"old": True}, {"x": (np.arange(5, dtype=np.float32), 8)})
    before = path.read_bytes()

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(container.os, failing, fail)
    with pytest.raises(OSError, match="No space"):
        container.save(path, {"old": False}, clip_tensors(frames=8))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["clip.snerv"]
    assert container.load(path)[0] == {"old": True}


def test_save_refuses_bad_input_without_touching_the_file(tmp_path) -> None:
    path = tmp_path / "clip.snerv"
    path.write_bytes(b"previous")
    with pytest.raises(CodecError):
        container.save(path, {}, {"x": (np.array([np.nan]), 8)})
    assert path.read_bytes() == b"previous" and os.listdir(tmp_path) == ["clip.snerv"]
