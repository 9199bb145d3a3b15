"""Ragged arrays (items of row r at ``offsets[r]:offsets[r + 1]`` of a flat array): selecting rows."""

from __future__ import annotations

import numpy as np


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
