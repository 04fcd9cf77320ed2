"""The ``.vsnerv`` file format: named float tensors (a per-clip network's weights and its per-frame
embeddings, which together ARE the compressed video) ⇄ one compact, versioned, checksummed file.

``quantise`` maps each tensor to 2..8-bit symbols, ``entropy`` codes the symbols, ``container`` lays
out the file. Every error reading or writing one is a ``CodecError``.
"""


class CodecError(ValueError):
    """A tensor that cannot be encoded, or bytes that are not a readable vsinr neural-codec file."""


# A decoded file allocates about 5 bytes per element; this bounds what a damaged or hostile header
# can make us allocate (SNeRV models and embeddings are orders of magnitude smaller).
MAX_ELEMENTS = 1 << 28
# Decompression amplification: quantised weights and embeddings code to well over a bit per value, so a
# file declaring more values than this per byte of itself is refused before anything is decoded.
VALUES_PER_BYTE = 64
MAX_DIMS = 32
