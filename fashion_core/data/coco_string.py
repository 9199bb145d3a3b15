"""Decode pycocotools' compressed RLE strings to run lengths with whole-array numpy operations.

pycocotools exposes no Python call that returns the run lengths of a compressed RLE without decoding
to a dense mask. Each count is stored as 5-bit groups, low bits first, one char per group
(``chr(48 + group)``, bit 0x20 = another group follows, bit 0x10 of the last group = negative); counts
after the second are stored as the difference to the count two places back.
"""

from __future__ import annotations

import numpy as np


def decode_counts(text: str | bytes) -> np.ndarray:
    """(M,) int64 run lengths of one compressed RLE string."""
    data = np.frombuffer(text.encode("ascii") if isinstance(text, str) else bytes(text), dtype=np.uint8)
    c = data.astype(np.int64) - 48
    if not c.size:
        return np.zeros(0, dtype=np.int64)
    if (c < 0).any() or (c > 63).any() or c[-1] & 0x20:
        raise ValueError("not a pycocotools RLE string (characters outside '0'..'o' or a truncated count)")
    last = (c & 0x20) == 0  # the final char of each count has no continuation bit
    ends = np.flatnonzero(last)
    begins = np.concatenate(([0], ends[:-1] + 1))
    char_pos = np.arange(c.size) - np.repeat(begins, ends - begins + 1)
    x = np.add.reduceat((c & 0x1F) << (5 * char_pos), begins)
    negative = (c[ends] & 0x10) != 0
    x[negative] -= np.int64(1) << (5 * (char_pos[ends][negative] + 1))
    # counts[m] += counts[m - 2] for m > 2: running sums over the two interleaved chains.
    out = x.copy()
    out[3::2] = np.cumsum(x[1::2])[1:]
    out[4::2] = np.cumsum(x[2::2])[1:]
    return out
