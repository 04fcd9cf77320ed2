"""The SNeRV file format: named float tensors (a per-clip network's weights and its per-frame
embeddings, which together ARE the compressed video) ⇄ one compact, versioned, checksummed file.

Each tensor is quantised to 2..8 bits with an asymmetric min/max quantiser (one range for the whole
tensor, or ranges reduced along one long axis, whichever reconstructs it better), and its symbols are coded
as their own stream: static order-0 rANS with the frequency table in front, or plain bit-packing when
that is smaller (tiny tensors, where the table would cost more than it saves).

Layout (little-endian)::

    magic       8 bytes   b"\\x89VSN\\r\\n\\x1a\\n": the high byte and CR LF betray 7-bit or text-mode copies
    version     uint16    FORMAT_VERSION
    header len  uint32
    header      UTF-8 JSON {"info": <caller's dict>, "tensors": [{name, shape, bits, axis, coding, stream}]},
                zlib-deflated since version 2 (the tensor table's names repeat: ~4× smaller, which is
                several % of a small model's file); version 1 files (plain JSON) are still read
    payload     per tensor, in table order: mins then scales (one float32 each for a whole-tensor range,
                else float16, one per position of the other axes, C order), then `stream` bytes of symbols
    crc32       uint32    zlib.crc32 of everything before it

Decoding reproduces the encoder's dequantised float32 values bit for bit (``quantised`` gives them
without writing a file). Nothing here uses pickle; every length is checked against the data present.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

MAGIC = b"\x89VSN\r\n\x1a\n"
FORMAT_VERSION = 2
# A deflated header inflates to at most this: far above any real table, far below a memory problem.
MAX_HEADER = 1 << 24
MIN_BITS, MAX_BITS = 2, 8
# A decoded file allocates about 5 bytes per element; this bounds what a damaged or hostile header
# can make us allocate (SNeRV models and embeddings are orders of magnitude smaller).
MAX_ELEMENTS = 1 << 28
MAX_DIMS = 32

_PREFIX = struct.Struct("<8sHI")  # magic, version, header length
_CRC = struct.Struct("<I")

# rANS with a 32-bit state renormalised a byte at a time (Giesen's rans_byte): the state stays in
# [_RANS_L, 256·_RANS_L), probabilities are integers out of 2^_PROB_BITS. 15 bits keeps the cost of
# rounding probabilities far below 1% even for a very peaked distribution.
_PROB_BITS = 15
_PROB_SCALE = 1 << _PROB_BITS
_RANS_L = 1 << 23

Tensors = Mapping[str, tuple[np.ndarray, int]]


class CodecError(ValueError):
    """A tensor that cannot be encoded, or bytes that are not a readable vsinr neural-codec file."""


# ---------------------------------------------------------------------------------------------------
# Quantisation


@dataclass(frozen=True, eq=False)
class Quantised:
    """A tensor as ``bits``-bit symbols plus the ranges that map them back to floats.

    ``axis`` None: one (min, scale) pair for the whole tensor, float32. Otherwise the ranges are
    reduced along ``axis``: one float16 pair per position of the other axes (arrays shaped like the
    tensor without ``axis``).
    """

    symbols: np.ndarray  # uint8, shaped like the tensor
    bits: int
    axis: int | None
    mins: np.ndarray
    scales: np.ndarray
    shape: tuple[int, ...]


def _round_down(x: np.ndarray, dtype: type) -> np.ndarray:
    """The largest ``dtype`` value ≤ x (float64 in): ranges widened outwards still cover every value."""
    with np.errstate(over="ignore"):
        r = np.asarray(x, np.float64).astype(dtype)
        return np.where(r.astype(np.float64) > x, np.nextafter(r, dtype(-np.inf)), r).astype(dtype)


def _round_up(x: np.ndarray, dtype: type) -> np.ndarray:
    """The smallest ``dtype`` value ≥ x (float64 in)."""
    with np.errstate(over="ignore"):
        r = np.asarray(x, np.float64).astype(dtype)
        return np.where(r.astype(np.float64) < x, np.nextafter(r, dtype(np.inf)), r).astype(dtype)


def _candidate(x: np.ndarray, bits: int, axis: int | None) -> Quantised | None:
    """Quantise float64 ``x`` with ranges over the whole tensor (axis None) or reduced along ``axis``;
    None where the ranges do not fit their storage type."""
    dtype = np.float32 if axis is None else np.float16
    levels = (1 << bits) - 1
    lo = x.min(axis=axis)
    hi = x.max(axis=axis)
    mins = _round_down(lo, dtype)
    span = hi - mins.astype(np.float64)
    # The scale is rounded up from the span measured from the rounded min, so min + levels·scale ≥ max:
    # the stored (rounded) ranges cover every value and the error stays within scale/2.
    scales = np.where(span > 0, _round_up(span / levels, dtype), dtype(1)).astype(dtype)
    if not (np.isfinite(mins).all() and np.isfinite(scales).all()):
        return None
    m, s = mins.astype(np.float64), scales.astype(np.float64)
    if axis is not None:
        m, s = np.expand_dims(m, axis), np.expand_dims(s, axis)
    symbols = np.clip(np.rint((x - m) / s), 0, levels).astype(np.uint8)
    return Quantised(symbols, bits, axis, mins, scales, tuple(x.shape))


def _check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not MIN_BITS <= bits <= MAX_BITS:
        raise CodecError(f"bits must be an integer from {MIN_BITS} to {MAX_BITS}, not {bits!r}")
    return int(bits)


def quantise(values: np.ndarray, bits: int) -> Quantised:
    """Quantise a real, finite, non-empty array to ``bits`` (2..8) bits per value.

    Candidates: one (min, scale) for the whole tensor, and for each axis longer than 50 the ranges
    reduced along it, one pair per position of the other axes (fewer pairs than 2% of the elements).
    The one with the least mean absolute reconstruction error wins, the whole-tensor range on ties.
    """
    bits = _check_bits(bits)
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise CodecError(f"cannot quantise values of type {array.dtype}; give a real (float or integer) array")
    if array.size == 0:
        raise CodecError(f"cannot quantise an empty tensor (shape {array.shape})")
    if array.size > MAX_ELEMENTS or array.ndim > MAX_DIMS:
        raise CodecError(f"tensor of shape {array.shape} is too large for the format; split it")
    x = array.astype(np.float64)
    if not np.isfinite(x).all():
        raise CodecError("cannot quantise NaN or infinite values")
    best, best_error = None, math.inf
    # Ranges reduced along axis a take x.size // shape[a] pairs: under 2% of the values exactly when
    # shape[a] > 50, so the ranges never cost more than a small fraction of the symbols.
    axes = [a for a in range(x.ndim) if x.size // x.shape[a] < 0.02 * x.size]
    for axis in [None, *axes]:
        candidate = _candidate(x, bits, axis)
        if candidate is None:
            continue
        error = float(np.abs(dequantise(candidate).astype(np.float64) - x).mean())
        if error < best_error:
            best, best_error = candidate, error
    if best is None:
        raise CodecError("values are too large for float32 quantisation ranges")
    return best


def dequantise(q: Quantised) -> np.ndarray:
    """The float32 values ``q`` stands for: symbol·scale + min, each step rounded to float32, so the
    encoder's copy and the decoder's agree bit for bit."""
    mins, scales = q.mins.astype(np.float32), q.scales.astype(np.float32)
    if q.axis is not None:
        mins, scales = np.expand_dims(mins, q.axis), np.expand_dims(scales, q.axis)
    out = np.asarray(q.symbols).astype(np.float32)
    np.multiply(out, scales, out=out)
    np.add(out, mins, out=out)
    return out


# ---------------------------------------------------------------------------------------------------
# Entropy coding: static order-0 rANS, table in front


@njit(cache=True)
def _rans_encode(symbols, freq, start, out):  # pragma: no cover - compiled
    """Code ``symbols`` backwards into the end of ``out`` (≥ 2 bytes per symbol + 4); returns where the
    code begins. Decoding reads it forwards."""
    x = np.int64(_RANS_L)
    pos = out.size
    for i in range(symbols.size - 1, -1, -1):
        s = symbols[i]
        f = freq[s]
        x_max = ((_RANS_L >> _PROB_BITS) << 8) * f
        while x >= x_max:
            pos -= 1
            out[pos] = x & 0xFF
            x >>= 8
        x = ((x // f) << _PROB_BITS) + (x % f) + start[s]
    for _ in range(4):  # the final state, big-endian in front: the decoder starts from it
        pos -= 1
        out[pos] = x & 0xFF
        x >>= 8
    return pos


@njit(cache=True)
def _rans_decode(data, pos, freq, start, lookup, out):  # pragma: no cover - compiled
    """Decode ``out.size`` symbols from ``data[pos:]``. 0: fine; 1: the data ran out; 2: the data did
    not end exactly where the code does. Every read is bounds-checked and each loop step consumes a
    symbol or a byte, so it ends on any input (the table was validated by the caller)."""
    n = data.size
    x = np.int64(0)
    for _ in range(4):
        x = (x << 8) | np.int64(data[pos])
        pos += 1
    mask = _PROB_SCALE - 1
    for i in range(out.size):
        slot = x & mask
        s = lookup[slot]
        out[i] = s
        x = freq[s] * (x >> _PROB_BITS) + slot - start[s]
        while x < _RANS_L:
            if pos >= n:
                return 1
            x = (x << 8) | np.int64(data[pos])
            pos += 1
    if x != _RANS_L or pos != n:
        return 2
    return 0


def _normalise(counts: np.ndarray) -> np.ndarray:
    """Integer frequencies summing to 2^_PROB_BITS, ≥ 1 for every symbol that occurs, chosen greedily
    to cost the fewest coded bits (the cost is convex in each frequency, so greedy is optimal)."""
    total = int(counts.sum())
    present = counts > 0
    freq = np.where(present, np.maximum(counts * _PROB_SCALE // total, 1), 0).astype(np.int64)
    c = counts.astype(np.float64)
    diff = _PROB_SCALE - int(freq.sum())  # |diff| ≤ number of distinct symbols
    with np.errstate(divide="ignore", invalid="ignore"):
        while diff > 0:
            gain = np.where(present, c * np.log2((freq + 1) / freq), -np.inf)
            freq[int(np.argmax(gain))] += 1
            diff -= 1
        while diff < 0:
            loss = np.where(freq > 1, c * np.log2(freq / (freq - 1)), np.inf)
            freq[int(np.argmin(loss))] -= 1
            diff += 1
    return freq


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def entropy_encode(symbols: np.ndarray) -> bytes:
    """Code uint8 symbols with static order-0 rANS. The stream holds its own frequency table (largest
    symbol, presence bitmap, varint frequencies out of 2^15), then the coder's final state (4 bytes,
    big-endian) and its renormalisation bytes; the symbol count is not in it. No symbols: no bytes."""
    flat = np.ascontiguousarray(np.asarray(symbols).reshape(-1))
    if flat.dtype != np.uint8:
        raise CodecError(f"symbols must be uint8, not {flat.dtype}")
    if flat.size == 0:
        return b""
    freq = _normalise(np.bincount(flat, minlength=256).astype(np.int64))
    present = np.flatnonzero(freq)
    top = int(present[-1])
    flags = np.zeros((top // 8 + 1) * 8, np.uint8)
    flags[present] = 1
    table = bytes([top]) + np.packbits(flags, bitorder="little").tobytes()
    table += b"".join(_varint(int(f)) for f in freq[present])
    start = np.concatenate([[0], np.cumsum(freq)[:-1]]).astype(np.int64)
    out = np.empty(2 * flat.size + 4, np.uint8)
    pos = _rans_encode(flat, freq, start, out)
    return table + out[pos:].tobytes()


def entropy_decode(data: bytes, count: int, alphabet: int = 256) -> np.ndarray:
    """The ``count`` uint8 symbols (each < ``alphabet``) coded in ``data`` by ``entropy_encode``.
    Any bytes either decode or raise CodecError."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_ELEMENTS:
        raise CodecError(f"symbol count must be an integer from 0 to {MAX_ELEMENTS}, not {count!r}")
    raw = bytes(data)
    if count == 0:
        if raw:
            raise CodecError(f"{len(raw)} bytes of coded data for no symbols")
        return np.zeros(0, np.uint8)
    if not raw:
        raise CodecError("coded data is empty")
    top = raw[0]
    if top >= alphabet:
        raise CodecError(f"frequency table names symbol {top}, beyond the {alphabet} this stream may hold")
    pos = 1 + top // 8 + 1
    if pos > len(raw):
        raise CodecError("coded data ends inside its frequency table")
    flags = np.unpackbits(np.frombuffer(raw[1:pos], np.uint8), bitorder="little")
    present = np.flatnonzero(flags)
    if present.size == 0 or present[-1] != top:  # top is always flagged, and nothing above it
        raise CodecError("frequency table is inconsistent (presence bitmap)")
    freq = np.zeros(256, np.int64)
    for symbol in present:
        value, shift = 0, 0
        while True:
            if pos >= len(raw):
                raise CodecError("coded data ends inside its frequency table")
            byte = raw[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 14:  # 3 bytes hold every frequency up to 2^15
                raise CodecError("frequency table is inconsistent (overlong frequency)")
        if not 1 <= value <= _PROB_SCALE:
            raise CodecError(f"frequency table is inconsistent (frequency {value})")
        freq[symbol] = value
    if int(freq.sum()) != _PROB_SCALE:
        raise CodecError("frequency table is inconsistent (frequencies do not add up)")
    if len(raw) - pos < 4:
        raise CodecError("coded data is truncated")
    start = np.concatenate([[0], np.cumsum(freq)[:-1]]).astype(np.int64)
    lookup = np.repeat(np.arange(256, dtype=np.uint8), freq)  # exactly _PROB_SCALE entries
    out = np.empty(count, np.uint8)
    status = _rans_decode(np.frombuffer(raw, np.uint8), pos, freq, start, lookup, out)
    if status == 1:
        raise CodecError(f"coded data is truncated (ran out before symbol {count})")
    if status != 0:
        raise CodecError("coded data is damaged (does not end where the code does)")
    return out


def _pack_bits(symbols: np.ndarray, bits: int) -> bytes:
    """Symbols as consecutive ``bits``-bit fields, most significant bit first, zero-padded."""
    planes = np.unpackbits(symbols.reshape(-1, 1), axis=1)[:, 8 - bits:]
    return np.packbits(planes.reshape(-1)).tobytes()


def _unpack_bits(data: bytes, count: int, bits: int) -> np.ndarray:
    flat = np.unpackbits(np.frombuffer(data, np.uint8))
    if flat.size < count * bits or flat[count * bits:].any():
        raise CodecError("bit-packed data has the wrong length or non-zero padding")
    planes = flat[:count * bits].reshape(count, bits)
    return np.packbits(np.pad(planes, ((0, 0), (8 - bits, 0))), axis=1).reshape(count)


def _packed_size(count: int, bits: int) -> int:
    return (count * bits + 7) // 8


# ---------------------------------------------------------------------------------------------------
# Container


def quantised(tensors: Tensors) -> dict[str, np.ndarray]:
    """Exactly the float32 tensors ``unpack(pack(info, tensors))`` returns, without coding anything."""
    return {name: dequantise(quantise(values, bits)) for name, (values, bits) in tensors.items()}


def _stats_size(shape: tuple[int, ...], axis: int | None) -> int:
    if axis is None:
        return 8  # float32 min, float32 scale
    return 4 * (math.prod(shape) // shape[axis])  # float16 mins, float16 scales


def pack(info: dict, tensors: Tensors) -> bytes:
    """The file's bytes for ``info`` (JSON data: sizes, fps, frame count, model configuration; tuples
    come back as lists) and ``tensors`` {name: (values, bits per value)}."""
    if not isinstance(info, dict):
        raise CodecError(f"info must be a dict, not {type(info).__name__}")
    table, payload, total = [], [], 0
    for name, item in tensors.items():
        if not isinstance(name, str) or not name:
            raise CodecError(f"tensor names must be non-empty strings, not {name!r}")
        try:
            values, bits = item
        except (TypeError, ValueError):
            raise CodecError(f"tensor {name!r}: expected (values, bits), got {type(item).__name__}") from None
        try:
            q = quantise(values, bits)
        except CodecError as exc:
            raise CodecError(f"tensor {name!r}: {exc}") from None
        total += q.symbols.size
        if total > MAX_ELEMENTS:
            raise CodecError(f"more than {MAX_ELEMENTS} values in all; split them over several files")
        flat = q.symbols.reshape(-1)
        stream = entropy_encode(flat)
        coding = "rans"
        if len(stream) >= _packed_size(flat.size, q.bits):
            stream, coding = _pack_bits(flat, q.bits), "packed"
        stats_type = "<f4" if q.axis is None else "<f2"
        payload += [q.mins.astype(stats_type).tobytes(), q.scales.astype(stats_type).tobytes(), stream]
        table.append(dict(name=name, shape=list(q.shape), bits=q.bits, axis=q.axis, coding=coding,
                          stream=len(stream)))
    try:
        header = json.dumps({"info": info, "tensors": table}, ensure_ascii=False, allow_nan=False,
                            separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise CodecError(f"info is not JSON data: {exc}") from None
    header = zlib.compress(header, 9)
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header)) + header + b"".join(payload)
    return body + _CRC.pack(zlib.crc32(body))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry(raw: object, index: int) -> tuple[str, tuple[int, ...], int, int | None, str, int]:
    """One tensor-table entry, checked: (name, shape, bits, axis, coding, stream length)."""
    where = f"tensor table entry {index}"
    if not isinstance(raw, dict):
        raise CodecError(f"{where} is not an object")
    missing = {"name", "shape", "bits", "axis", "coding", "stream"} - raw.keys()
    if missing:
        raise CodecError(f"{where} lacks {', '.join(sorted(missing))}")
    name, shape, bits, axis, coding, stream = (raw[k] for k in ("name", "shape", "bits", "axis", "coding", "stream"))
    if not isinstance(name, str) or not name:
        raise CodecError(f"{where}: name is not a non-empty string")
    where = f"tensor {name!r}"
    if (not isinstance(shape, list) or len(shape) > MAX_DIMS
            or not all(_is_int(d) and d > 0 for d in shape) or math.prod(shape) > MAX_ELEMENTS):
        raise CodecError(f"{where}: shape {shape!r} is not a list of at most {MAX_DIMS} positive sizes "
                         f"with at most {MAX_ELEMENTS} elements")
    if not _is_int(bits) or not MIN_BITS <= bits <= MAX_BITS:
        raise CodecError(f"{where}: bits {bits!r} is not an integer from {MIN_BITS} to {MAX_BITS}")
    if axis is not None and (not _is_int(axis) or not 0 <= axis < len(shape)):
        raise CodecError(f"{where}: axis {axis!r} is not null or an axis of shape {shape}")
    if coding not in ("rans", "packed"):
        raise CodecError(f"{where}: unknown coding {coding!r}")
    if not _is_int(stream) or stream < 0:
        raise CodecError(f"{where}: stream length {stream!r} is not a non-negative integer")
    if coding == "packed" and stream != _packed_size(math.prod(shape), bits):
        raise CodecError(f"{where}: bit-packed stream of {stream} bytes does not fit shape {shape} at {bits} bits")
    return name, tuple(shape), bits, axis, coding, stream


def _reject_constant(token: str) -> float:
    raise CodecError(f"header holds {token}, which is not JSON")


def _inflate(text: bytes, name: str) -> bytes:
    """The deflated header of a version-2 file, bounded so a hostile file cannot exhaust memory."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(text, MAX_HEADER)
    except zlib.error as exc:
        raise CodecError(f"{name}: damaged header ({exc})") from None
    if inflater.unconsumed_tail:
        raise CodecError(f"{name}: damaged header (it inflates to more than {MAX_HEADER} bytes)")
    if not inflater.eof or inflater.unused_data:
        raise CodecError(f"{name}: damaged header (the deflate stream is incomplete or followed by data)")
    return out


def unpack(data: bytes, name: str = "<bytes>") -> tuple[dict, dict[str, np.ndarray]]:
    """(info, {name: float32 tensor}) from a file's bytes; CodecError, naming ``name``, for anything that
    is not an intact file of a format version this vsinr reads."""
    data = bytes(data)
    if not data:
        raise CodecError(f"{name}: the file is empty (0 bytes); an encode that did not finish, encode it again")
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            raise CodecError(f"{name}: truncated ({len(data)} bytes); the file is incomplete, copy or encode it again")
        if data.startswith(MAGIC.replace(b"\r\n", b"\n")) or data.startswith(MAGIC.replace(b"\n", b"\r\n")):
            raise CodecError(f"{name}: damaged by a text-mode copy (line endings were converted); "
                             "copy it again in binary mode")
        raise CodecError(f"{name}: not a vsinr neural-codec file (wrong magic bytes)")
    if len(data) < _PREFIX.size + _CRC.size:
        raise CodecError(f"{name}: truncated ({len(data)} bytes); the file is incomplete, copy or encode it again")
    _, version, header_size = _PREFIX.unpack_from(data)
    if version > FORMAT_VERSION:
        raise CodecError(f"{name}: written by a newer vsinr (format version {version}; this one reads up to "
                         f"{FORMAT_VERSION}); upgrade vsinr to read it")
    if version < 1:
        raise CodecError(f"{name}: damaged (format version {version} does not exist)")
    if _PREFIX.size + header_size + _CRC.size > len(data):
        raise CodecError(f"{name}: truncated ({len(data)} bytes, the header alone needs "
                         f"{_PREFIX.size + header_size + _CRC.size}); copy or encode it again")
    body = memoryview(data)[:-_CRC.size]
    if zlib.crc32(body) != _CRC.unpack_from(data, len(data) - _CRC.size)[0]:
        raise CodecError(f"{name}: damaged, truncated or with bytes appended (checksum mismatch); "
                         "copy or encode it again")
    text = bytes(body[_PREFIX.size:_PREFIX.size + header_size])
    if version >= 2:
        text = _inflate(text, name)
    try:
        header = json.loads(text.decode("utf-8"), parse_constant=_reject_constant)
    except CodecError as exc:
        raise CodecError(f"{name}: damaged: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"{name}: damaged header ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("info"), dict) \
            or not isinstance(header.get("tensors"), list):
        raise CodecError(f"{name}: damaged header (expected an object with 'info' and 'tensors')")
    try:
        entries = [_entry(raw, i) for i, raw in enumerate(header["tensors"])]
    except CodecError as exc:
        raise CodecError(f"{name}: damaged header: {exc}") from None
    names = [e[0] for e in entries]
    if len(set(names)) != len(names):
        raise CodecError(f"{name}: damaged header (a tensor name occurs twice)")
    if sum(math.prod(e[1]) for e in entries) > MAX_ELEMENTS:
        raise CodecError(f"{name}: damaged header (more than {MAX_ELEMENTS} values in all)")
    pos = _PREFIX.size + header_size
    expected = pos + sum(_stats_size(e[1], e[3]) + e[5] for e in entries) + _CRC.size
    if expected != len(data):
        raise CodecError(f"{name}: damaged (the header describes {expected} bytes, the file has {len(data)})")
    tensors = {}
    for tensor, shape, bits, axis, coding, stream in entries:
        count = math.prod(shape)
        pairs = 1 if axis is None else count // shape[axis]
        native = np.float32 if axis is None else np.float16
        stats = np.frombuffer(data, "<f4" if axis is None else "<f2", 2 * pairs, pos).astype(native)
        pos += _stats_size(shape, axis)
        mins, scales = stats[:pairs], stats[pairs:]
        if not (np.isfinite(mins).all() and np.isfinite(scales).all() and (scales > 0).all()):
            raise CodecError(f"{name}: damaged: tensor {tensor!r} has non-finite or non-positive ranges")
        try:
            if coding == "rans":
                symbols = entropy_decode(data[pos:pos + stream], count, alphabet=1 << bits)
            else:
                symbols = _unpack_bits(data[pos:pos + stream], count, bits)
        except CodecError as exc:
            raise CodecError(f"{name}: damaged: tensor {tensor!r}: {exc}") from None
        pos += stream
        if axis is None:
            mins, scales = mins.reshape(()), scales.reshape(())
        else:
            reduced = shape[:axis] + shape[axis + 1:]
            mins, scales = mins.reshape(reduced), scales.reshape(reduced)
        q = Quantised(symbols.reshape(shape), bits, axis, mins, scales, shape)
        tensors[tensor] = dequantise(q)
    return header["info"], tensors


def save(path: str | os.PathLike, info: dict, tensors: Tensors) -> int:
    """Write ``pack(info, tensors)`` to ``path`` atomically (``vsinr.files.atomic_path``: a temporary
    file beside it, flushed to disk, then renamed); returns the file's size in bytes. If anything fails,
    whatever was at ``path`` is left as it was."""
    from vsinr.files import atomic_path

    data = pack(info, tensors)  # encoding errors surface before the disk is touched
    with atomic_path(Path(os.path.abspath(os.fspath(path)))) as temporary:
        temporary.write_bytes(data)
    return len(data)


def load(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """(info, tensors) from the file at ``path``; CodecError if it is missing, unreadable, foreign,
    truncated or damaged."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        raise CodecError(f"{name}: no such file") from None
    except OSError as exc:
        raise CodecError(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    return unpack(data, str(name))
