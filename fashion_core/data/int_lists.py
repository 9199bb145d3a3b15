"""Parse a column of space-separated non-negative integers ("1 5 20 3") in bulk, eight digits per operation.

Kaggle's ``EncodedPixels`` hold ~170M integers; the parsers at hand cost 17-70 ns a token
(``np.fromstring``, which also holds the GIL; Arrow's split + cast or its CSV reader; ``np.loadtxt``).
Here each token is read as the 8 bytes that end at it, as one little-endian uint64 ("SWAR": SIMD
within a register): the bytes before the token are masked off and the eight ASCII digits are combined
into the number with three multiply-shift steps. All of it is whole-array numpy (~11 ns a token, half
of it finding the token ends; GIL released).

Text that is not plain (single spaces between tokens, digits only, at most 8 digits a token) takes a
row-by-row path that tolerates any whitespace and marks rows with a non-integer token as bad.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fashion_core.data.scratch import Scratch

_U = np.uint64
_PAD = 8  # '0's before the first token, so that it too has 8 bytes ending at it
_ZEROS = _U(0x3030303030303030)  # eight ASCII '0'
_LOW_BYTES = _U(0x000000FF000000FF)
_MUL_100_1E6 = _U(100 + (1_000_000 << 32))
_MUL_1_1E4 = _U(1 + (10_000 << 32))
_TOKEN_RE = re.compile(r"[0-9]+")
# A row whose value could not be a pixel index of any image (> 2**40) is bad rather than overflowing int64.
_MAX_VALUE = 1 << 40


@dataclass(frozen=True)
class IntLists:
    """B rows of integers: row b is ``values[offsets[b]:offsets[b + 1]]``.

    values: (N,) int64; offsets: (B + 1,) int64; ok: (B,) bool, False where the row has a token that is
    not a non-negative integer (such a row has no values).
    """

    values: np.ndarray
    offsets: np.ndarray
    ok: np.ndarray


def parse_int_lists(column: pa.Array, scratch: Scratch | None = None) -> IntLists:
    """Integers of each row of a string column (nulls and "" are empty rows).

    With a ``scratch``, ``values`` may live in its buffers (valid until they are reused).
    """
    if column.type != pa.string():
        column = column.cast(pa.string())
    if column.null_count:
        column = pc.fill_null(column, "")
    fast = _parse_plain(column, scratch if scratch is not None else Scratch())
    return fast if fast is not None else _parse_rows(column.to_pylist())


def _parse_plain(column: pa.Array, scratch: Scratch) -> IntLists | None:
    """The SWAR parse, or None when the text is not plain (then nothing has been decided yet)."""
    n_rows = len(column)
    if not n_rows:
        return IntLists(values=np.zeros(0, np.int64), offsets=np.zeros(1, np.int64), ok=np.ones(0, dtype=bool))
    bounds = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset : column.offset + n_rows + 1]
    row_starts, row_ends = (bounds[:-1] - bounds[0]).astype(np.int64), (bounds[1:] - bounds[0]).astype(np.int64)
    n = int(row_ends[-1])
    # Copied behind eight '0's (so the first token has 8 bytes before its end) into whole uint64 words,
    # two spare at the end: every token's 8 bytes are then the top and bottom of two aligned words.
    words = scratch.array("text", n // 8 + 3, _U)
    text = words.view(np.uint8)
    text[:_PAD] = 48
    body = text[_PAD : _PAD + n]
    if n:
        body[:] = np.frombuffer(column.buffers()[2], dtype=np.uint8, count=n, offset=int(bounds[0]))
    flags = scratch.array("flags", n, bool)
    n_spaces = np.count_nonzero(np.equal(body, 32, out=flags))
    # Only spaces below '0' and nothing above '9': letters, signs, dots, tabs... take the slow path.
    if n and (body.max() > 57 or np.count_nonzero(np.less(body, 48, out=flags)) != n_spaces):
        return None
    # A token ends where a space follows or its row ends (rows are not separated in Arrow's buffer).
    in_use = row_ends > row_starts
    if n:
        np.equal(body[1:], 32, out=flags[:-1])
        flags[row_ends[in_use] - 1] = True
    end = np.flatnonzero(flags)  # each token's last byte
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    offsets[1:] = np.searchsorted(end, row_ends - 1, side="right")
    length = scratch.array("length", end.size, np.int64)
    np.subtract(end[1:], end[:-1], out=length[1:])
    length[:1] = end[:1] + 1
    length -= 1  # one separator between tokens of a row...
    length[offsets[:-1][in_use]] += 1  # ...and none before a row's first
    # A leading, trailing or double space makes a token start with a space or have no digits; more than
    # 8 digits do not fit the word.
    if end.size and (length.min() < 1 or length.max() > 8 or (body[row_starts[in_use]] == 32).any()):
        return None
    end += 1  # the token's 8 bytes start at text[end + 1 - 8 + _PAD]
    return IntLists(values=_swar_values(words, end, length, scratch), offsets=offsets, ok=np.ones(n_rows, dtype=bool))


def _swar_values(words: np.ndarray, at: np.ndarray, length: np.ndarray, scratch: Scratch) -> np.ndarray:
    """(T,) int64 values of the tokens whose 8 bytes start at byte ``at`` (T,) of ``words``, each
    ``length`` digits long (1..8), right-aligned. Overwrites ``at`` and ``length``."""
    # Gather the two aligned words around each token and funnel-shift its 8 bytes out of them.
    n = at.size
    low_shift = scratch.array("swar_shift", n, _U)
    np.bitwise_and(at, 7, out=low_shift, casting="unsafe")
    low_shift <<= _U(3)
    np.right_shift(at, 3, out=at)
    w = words.take(at, out=scratch.array("swar_value", n, _U), mode="clip")
    at += 1
    high = words.take(at, out=scratch.array("swar_high", n, _U), mode="clip")
    w >>= low_shift
    np.subtract(_U(64), low_shift, out=low_shift)
    high <<= low_shift  # numpy shifts by >= 64 give 0: an aligned token needs no high part
    w |= high
    # The token's digits become 0..9 and the bytes before it (the low 8 - length bytes) 0.
    keep = length.view(_U)
    keep <<= _U(3)
    np.subtract(_U(64), keep, out=keep)
    np.left_shift(_U(0xFFFFFFFFFFFFFFFF), keep, out=keep)
    w ^= _ZEROS  # '0'..'9' → 0..9 (other bytes become junk that the mask drops)
    w &= keep  # the first digit in the lowest byte, as a leading zero would be
    tmp = high
    # Pairs of digits → 2-digit numbers, pairs of those → 4-digit numbers, then the 8-digit number.
    np.right_shift(w, _U(8), out=tmp)
    w *= _U(10)
    w += tmp
    np.right_shift(w, _U(16), out=tmp)
    tmp &= _LOW_BYTES
    tmp *= _MUL_1_1E4
    w &= _LOW_BYTES
    w *= _MUL_100_1E6
    w += tmp
    w >>= _U(32)
    return w.view(np.int64)


def _parse_rows(rows: list[str]) -> IntLists:
    """Row by row: any whitespace separates tokens; a row with a non-integer token is bad and empty."""
    values: list[int] = []
    counts = np.zeros(len(rows), dtype=np.int64)
    ok = np.ones(len(rows), dtype=bool)
    for i, row in enumerate(rows):
        tokens = row.split()
        if all(_TOKEN_RE.fullmatch(t) for t in tokens):
            numbers = [int(t) for t in tokens]
            if all(v <= _MAX_VALUE for v in numbers):
                values.extend(numbers)
                counts[i] = len(numbers)
                continue
        ok[i] = False
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return IntLists(values=np.array(values, dtype=np.int64), offsets=offsets, ok=ok)
