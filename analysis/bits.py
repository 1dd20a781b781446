"""Primitives on bit-packed correctness (``np.packbits`` rows, big bit order, zero padding).

Two operations carry the whole analysis without ever unpacking a study:

* :func:`popcount_rows` counts set bits per row (accuracies, all-correct and any-correct counts,
  pairwise agreement), 64 bits at a time with ``np.bitwise_count`` (NumPy >= 2) or a byte table.
* :class:`BitCounter` adds packed rows into per-bit counters held as bit-planes (a carry-save
  adder), so sums over networks or checkpoints (correct counts, accessibility, learned-at,
  forgetting events) cost ``log2(rows)`` bitwise operations per row on packed data; only the few
  planes are unpacked at the end.

Every function bounds its temporaries (chunks of about :data:`CHUNK_BYTES`).
"""
from __future__ import annotations

import numpy as np

CHUNK_BYTES = 1 << 24          # ~16 MB of temporaries per step

_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")
_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def _count_words(words: np.ndarray) -> np.ndarray:
    """Set bits per row of a 2-D uint64 (or uint8, for the table fallback) array, as int64."""
    if _HAS_BITWISE_COUNT:
        return np.bitwise_count(words).sum(axis=1, dtype=np.int64)
    return _BYTE_POPCOUNT[words.view(np.uint8)].sum(axis=1, dtype=np.int64)


def popcount_rows(a: np.ndarray) -> np.ndarray:
    """Number of set bits along the last axis of a uint8 array: int64 of shape ``a.shape[:-1]``."""
    a = np.asarray(a)
    if a.dtype != np.uint8:
        raise TypeError(f"popcount_rows needs uint8 (packed) input, got {a.dtype}")
    lead, nb = a.shape[:-1], a.shape[-1]
    flat = a.reshape(-1, nb)
    rows = flat.shape[0]
    out = np.empty(rows, np.int64)
    if rows == 0 or nb == 0:
        out[:] = 0
        return out.reshape(lead)
    n_words = (nb + 7) // 8
    step = max(1, CHUNK_BYTES // (n_words * 8))
    direct = nb % 8 == 0 and flat.flags.c_contiguous
    buf = None if direct else np.zeros((min(step, rows), n_words * 8), np.uint8)
    for s in range(0, rows, step):
        blk = flat[s:s + step]
        if direct:
            words = blk.view(np.uint64)
        else:
            # Copy into a zero-padded buffer whose rows are whole 64-bit words.
            buf[:blk.shape[0], :nb] = blk
            words = buf[:blk.shape[0]].view(np.uint64)
        out[s:s + blk.shape[0]] = _count_words(words)
    return out.reshape(lead)


class BitCounter:
    """Per-bit counts of packed rows of one shape, kept as ``P`` bit-planes (``P = bitlen(max)``).

    ``add(row)`` adds 0/1 at every bit position; ``counts(n_bits)`` unpacks the planes into
    integer counts. Rows must keep padding bits at zero (``np.packbits`` does).
    """

    def __init__(self, shape: tuple[int, ...], max_count: int):
        self.n_planes = max(1, int(max_count).bit_length())
        self.planes = np.zeros((self.n_planes, *shape), np.uint8)
        self._carry = np.empty(shape, np.uint8)
        self._tmp = np.empty(shape, np.uint8)
        self.added = 0
        self.max_count = int(max_count)

    def add(self, row: np.ndarray) -> None:
        if self.added >= self.max_count:
            raise OverflowError("BitCounter: more rows added than max_count")
        carry, tmp = self._carry, self._tmp
        np.copyto(carry, row)
        for p in range(self.n_planes):
            plane = self.planes[p]
            np.bitwise_and(plane, carry, out=tmp)
            np.bitwise_xor(plane, carry, out=plane)
            carry, tmp = tmp, carry
        self.added += 1

    def counts(self, n_bits: int, dtype=None) -> np.ndarray:
        """Integer counts, shape ``shape[:-1] + (n_bits,)``."""
        if dtype is None:
            dtype = np.uint8 if self.max_count < 256 else np.uint16 if self.max_count < 65536 else np.uint32
        shape = self.planes.shape[1:]
        lead = shape[:-1]
        out = np.zeros((*lead, n_bits), dtype)
        flat_out = out.reshape(-1, n_bits)
        flat_planes = self.planes.reshape(self.n_planes, -1, shape[-1])
        rows = flat_out.shape[0]
        step = max(1, CHUNK_BYTES // max(1, n_bits * np.dtype(dtype).itemsize))
        for s in range(0, rows, step):
            acc = flat_out[s:s + step]
            for p in range(self.n_planes):
                bits = np.unpackbits(flat_planes[p, s:s + step], axis=-1, count=n_bits)
                acc += bits.astype(dtype) << p if p else bits
        return out


def pack(correct: np.ndarray) -> np.ndarray:
    """Pack boolean correctness along the last axis (the record's layout)."""
    return np.packbits(np.asarray(correct, dtype=bool), axis=-1)


def unpack(bits: np.ndarray, n_bits: int) -> np.ndarray:
    return np.unpackbits(bits, axis=-1, count=n_bits).astype(bool)
