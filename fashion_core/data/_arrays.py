"""Array helpers of the ingest code: ragged-array row selection, reusable scratch buffers, and zero-copy
views of Arrow string columns for the compiled parsers (``_kernels.pyx``).

Ragged arrays keep the items of row r at ``offsets[r]:offsets[r + 1]`` of one flat array.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import DTypeLike


def ragged_index(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Flat positions of the items of ``rows`` (K,) of a ragged array with (R + 1,) ``offsets``, in order."""
    lengths = offsets[1:][rows] - offsets[:-1][rows]
    out_start = np.concatenate(([0], np.cumsum(lengths)[:-1])) if rows.size else np.zeros(0, np.int64)
    return np.repeat(offsets[:-1][rows] - out_start, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)


def ragged_offsets(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(K + 1,) offsets of the ragged array made of ``rows`` (K,) of one with (R + 1,) ``offsets``."""
    out = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(offsets[1:][rows] - offsets[:-1][rows], out=out[1:])
    return out


# Converting 1 MB of Kaggle RLE text takes some twenty temporaries of ~1.5 MB. Fresh numpy arrays that
# size come from malloc's mmap path or from heap memory it trims after every block, so each block
# page-faults them in again: ~2 µs per 4 KB page on the test machines, more than the arithmetic on them
# (1.2M faults, a third of the time, over a real-size train.csv). Taking them from a ``Scratch`` instead
# reuses the same memory block after block.
_GROWTH = 1.25  # over-allocate a little, so slightly larger blocks do not reallocate every time


class Scratch:
    """Named reusable buffers for block-by-block array code; one per thread (handed out without copies or locks)."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def array(self, name: str, n: int, dtype: DTypeLike) -> np.ndarray:
        """An uninitialised (n,) array of ``dtype``, valid until ``name`` is requested again."""
        dtype = np.dtype(dtype)
        nbytes = n * dtype.itemsize
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < nbytes:
            words = int(nbytes * _GROWTH) // 8 + 8
            buffer = np.empty(words, dtype=np.uint64).view(np.uint8)  # 8-byte aligned for any dtype
            self._buffers[name] = buffer
        return buffer[:nbytes].view(dtype)


def text_and_bounds(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) uint8 UTF-8 bytes and (B + 1,) int64 bounds: row r is ``text[bounds[r]:bounds[r + 1]]``.

    Nulls read as empty strings. Views Arrow's buffers (no copy) for string/large_string arrays; the
    column must stay alive while the views are used.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.null_count:
        column = pc.fill_null(column, "")  # a null slot's offsets may span bytes: Arrow does not forbid it
    if column.type not in (pa.string(), pa.large_string()):
        column = column.cast(pa.large_string())
    n = len(column)
    if n == 0 or column.buffers()[1] is None:
        return np.zeros(0, dtype=np.uint8), np.zeros(n + 1, dtype=np.int64)
    offset_type = np.int32 if column.type == pa.string() else np.int64
    bounds = np.frombuffer(column.buffers()[1], dtype=offset_type)[column.offset : column.offset + n + 1]
    data = column.buffers()[2]
    text = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return text, bounds.astype(np.int64)
