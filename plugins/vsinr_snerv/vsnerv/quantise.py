"""Quantisation: each tensor to 2..8 bits with an asymmetric min/max quantiser, one range for the whole
tensor or ranges reduced along one long axis, whichever reconstructs it better. Dequantising
reproduces the encoder's float32 values bit for bit."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vsinr_snerv.vsnerv import MAX_DIMS, MAX_ELEMENTS, CodecError

MIN_BITS, MAX_BITS = 2, 8

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
        r: np.ndarray = np.asarray(x, np.float64).astype(dtype)
        return np.where(r.astype(np.float64) > x, np.nextafter(r, dtype(-np.inf)), r).astype(dtype)


def _round_up(x: np.ndarray, dtype: type) -> np.ndarray:
    """The smallest ``dtype`` value ≥ x (float64 in)."""
    with np.errstate(over="ignore"):
        r: np.ndarray = np.asarray(x, np.float64).astype(dtype)
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


def check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not MIN_BITS <= bits <= MAX_BITS:
        raise CodecError(f"bits must be an integer from {MIN_BITS} to {MAX_BITS}, not {bits!r}")
    return int(bits)


def quantise(values: np.ndarray, bits: int) -> Quantised:
    """Quantise a real, finite, non-empty array to ``bits`` (2..8) bits per value.

    Candidates: one (min, scale) for the whole tensor, and for each axis longer than 50 the ranges
    reduced along it, one pair per position of the other axes (fewer pairs than 2% of the elements).
    The one with the least mean absolute reconstruction error wins, the whole-tensor range on ties.
    """
    bits = check_bits(bits)
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
