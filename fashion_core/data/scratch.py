"""Reusable buffers for the temporaries of block-by-block array code.

Converting 1 MB of Kaggle RLE text takes some twenty temporaries of ~1.5 MB. Fresh numpy arrays that
size come from malloc's mmap path or from heap memory it trims after every block, so each block
page-faults them in again: ~2 µs per 4 KB page on the test machines, more than the arithmetic on them
(1.2M faults, a third of the time, over a real-size train.csv). Taking them from a ``Scratch`` instead
reuses the same memory block after block.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

_GROWTH = 1.25  # over-allocate a little, so slightly larger blocks do not reallocate every time


class Scratch:
    """Named reusable buffers; one per thread (the buffers are handed out without copies or locks)."""

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
