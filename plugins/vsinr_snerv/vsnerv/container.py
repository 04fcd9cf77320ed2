"""The ``.vsnerv`` container: quantised, entropy-coded tensors in one compact, versioned, checksummed file.

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
from pathlib import Path

import numpy as np

from vsinr_snerv.vsnerv import MAX_DIMS, MAX_ELEMENTS, VALUES_PER_BYTE, CodecError
from vsinr_snerv.vsnerv.entropy import entropy_decode, entropy_encode, pack_bits, packed_size, unpack_bits
from vsinr_snerv.vsnerv.quantise import MAX_BITS, MIN_BITS, Quantised, dequantise, quantise

MAGIC = b"\x89VSN\r\n\x1a\n"
FORMAT_VERSION = 2
# A deflated header inflates to at most this: far above any real table, far below a memory problem.
MAX_HEADER = 1 << 24

_PREFIX = struct.Struct("<8sHI")  # magic, version, header length
_CRC = struct.Struct("<I")

Tensors = Mapping[str, tuple[np.ndarray, int]]




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
        if len(stream) >= packed_size(flat.size, q.bits):
            stream, coding = pack_bits(flat, q.bits), "packed"
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
    if coding == "packed" and stream != packed_size(math.prod(shape), bits):
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
    values = sum(math.prod(e[1]) for e in entries)
    if values > MAX_ELEMENTS:
        raise CodecError(f"{name}: damaged header (more than {MAX_ELEMENTS} values in all)")
    if values > VALUES_PER_BYTE * len(data) + (1 << 16):
        raise CodecError(f"{name}: the header declares {values} values for a file of {len(data)} bytes, more than any "
                         f"encoder writes ({VALUES_PER_BYTE} per byte); the file is forged or damaged")
    pos = _PREFIX.size + header_size
    expected = pos + sum(_stats_size(e[1], e[3]) + e[5] for e in entries) + _CRC.size
    if expected != len(data):
        raise CodecError(f"{name}: damaged (the header describes {expected} bytes, the file has {len(data)})")
    tensors = {}
    for tensor, shape, bits, axis, coding, stream in entries:
        count = math.prod(shape)
        pairs = 1 if axis is None else count // shape[axis]
        native = np.float32 if axis is None else np.float16
        stats: np.ndarray = np.frombuffer(data, "<f4" if axis is None else "<f2", 2 * pairs, pos).astype(native)
        pos += _stats_size(shape, axis)
        mins, scales = stats[:pairs], stats[pairs:]
        if not (np.isfinite(mins).all() and np.isfinite(scales).all() and (scales > 0).all()):
            raise CodecError(f"{name}: damaged: tensor {tensor!r} has non-finite or non-positive ranges")
        try:
            if coding == "rans":
                symbols = entropy_decode(data[pos:pos + stream], count, alphabet=1 << bits)
            else:
                symbols = unpack_bits(data[pos:pos + stream], count, bits)
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
    """Write ``pack(info, tensors)`` to ``path`` atomically (``vsinr.io.files.atomic_path``: a temporary
    file beside it, flushed to disk, then renamed); returns the file's size in bytes. If anything fails,
    whatever was at ``path`` is left as it was."""
    from vsinr.io.files import atomic_path

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
