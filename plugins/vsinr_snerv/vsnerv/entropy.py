"""Entropy coding of quantised symbols: static order-0 rANS with its frequency table in front, or plain
bit-packing where that is smaller (tiny tensors, where the table would cost more than it saves).
Any bytes either decode or raise ``CodecError``."""

from __future__ import annotations

import numpy as np
from numba import njit

from vsinr_snerv.vsnerv import MAX_ELEMENTS, CodecError

# rANS with a 32-bit state renormalised a byte at a time (Giesen's rans_byte): the state stays in
# [_RANS_L, 256·_RANS_L), probabilities are integers out of 2^_PROB_BITS. 15 bits keeps the cost of
# rounding probabilities far below 1% even for a very peaked distribution.
_PROB_BITS = 15
_PROB_SCALE = 1 << _PROB_BITS
_RANS_L = 1 << 23


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


def pack_bits(symbols: np.ndarray, bits: int) -> bytes:
    """Symbols as consecutive ``bits``-bit fields, most significant bit first, zero-padded."""
    planes = np.unpackbits(symbols.reshape(-1, 1), axis=1)[:, 8 - bits:]
    return np.packbits(planes.reshape(-1)).tobytes()


def unpack_bits(data: bytes, count: int, bits: int) -> np.ndarray:
    flat = np.unpackbits(np.frombuffer(data, np.uint8))
    if flat.size < count * bits or flat[count * bits:].any():
        raise CodecError("bit-packed data has the wrong length or non-zero padding")
    planes = flat[:count * bits].reshape(count, bits)
    return np.packbits(np.pad(planes, ((0, 0), (8 - bits, 0))), axis=1).reshape(count)


def packed_size(count: int, bits: int) -> int:
    return (count * bits + 7) // 8
