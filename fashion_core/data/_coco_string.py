"""pycocotools' compressed RLE strings -> run lengths, and their validity, without dense masks.

pycocotools exposes no Python call that returns the run lengths of a compressed RLE without decoding
to a dense mask, and checks none of a string's counts (the Kaggle reader's encoder is compiled:
``_kernels.pyx``). Each count is stored as 5-bit groups, low bits first, one char per group
(``chr(48 + group)``, bit 0x20 = another group follows, bit 0x10 of the last group = negative); counts
after the third are stored as the difference to the count two places back (maskApi.c
``rleToString``/``rleFrString``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


_MAX_COUNT_CHARS = 12
_PROBLEMS = (
    "",
    "counts hold a character outside '0'..'o'",
    "counts end in the middle of a number (truncated)",
    f"a number in counts has more than {_MAX_COUNT_CHARS} characters",
    "a run length is negative or larger than h*w",
    "run lengths sum to {total}, expected h*w = {pixels}",
)


def first_invalid_rle(texts: Sequence[str | bytes], pixels: np.ndarray) -> tuple[int, str] | None:
    """The first of n compressed RLE strings that is not a mask of ``pixels[i]`` (= h*w) pixels, and why.

    Valid: chars '0'..'o', no number cut short, every run length >= 0, run lengths summing to exactly
    ``pixels[i]`` (what ``pycocotools.mask.encode`` writes). One compiled pass over the concatenated
    strings (``_kernels.check_coco_strings``, ~1 ns a char); whole-array numpy where that is not built.
    Returns None when all are valid.
    """
    check = _compiled_check()
    if check is None:
        return _first_invalid_numpy(texts, pixels)
    n = len(texts)
    joined = _concatenated(texts)
    if isinstance(joined[0], int):
        return joined  # (index, problem) of a non-ASCII string
    data, offsets = joined
    pixels = np.ascontiguousarray(pixels, dtype=np.int64).reshape(n)
    totals = np.empty(n, dtype=np.int64)
    status = np.empty(n, dtype=np.uint8)
    check(np.frombuffer(data, dtype=np.uint8), offsets, pixels, totals, status)
    bad = np.flatnonzero(status)
    if not bad.size:
        return None
    j = int(bad[0])
    return j, _PROBLEMS[status[j]].format(total=int(totals[j]), pixels=int(pixels[j]))


def _concatenated(texts: Sequence[str | bytes]) -> tuple[bytes, np.ndarray] | tuple[int, str]:
    """(all strings as one ASCII byte string, (n + 1,) start offsets), or (index, problem) of the first
    string that is not ASCII."""
    try:
        data = _joined(texts)
    except UnicodeEncodeError:
        j = next(i for i, t in enumerate(texts) if isinstance(t, str) and not t.isascii())
        return j, "counts hold a non-ASCII character; expected pycocotools' characters '0'..'o'"
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), out=offsets[1:])
    return data, offsets


def _joined(texts: Sequence[str | bytes]) -> bytes:
    """All strings as one ASCII byte string (UnicodeEncodeError on a non-ASCII str)."""
    if set(map(type, texts)) <= {str}:
        return "".join(texts).encode("ascii")  # type: ignore[arg-type]
    return b"".join(t.encode("ascii") if isinstance(t, str) else bytes(t) for t in texts)


def _compiled_check() -> Any:
    """``_kernels.check_coco_strings``, or None where the extension is not built or predates it."""
    try:
        from fashion_core.data._compiled import kernels

        return getattr(kernels(), "check_coco_strings", None)
    except ImportError:
        return None


def _first_invalid_numpy(texts: Sequence[str | bytes], pixels: np.ndarray) -> tuple[int, str] | None:
    """``first_invalid_rle`` with whole-array numpy (~40 ns a char): where the compiled check is not built."""
    n = len(texts)
    if n == 0:
        return None
    joined = _concatenated(texts)
    if isinstance(joined[0], int):
        return joined  # (index, problem) of a non-ASCII string
    data, offsets = joined
    pixels = np.asarray(pixels, dtype=np.int64).reshape(n)
    flags: list[tuple[np.ndarray, str]] = []  # (n,) bool per check, in the order they are reported

    def flag(owners: np.ndarray, message: str) -> None:
        bad = np.zeros(n, dtype=bool)
        bad[owners] = True
        flags.append((bad, message))

    c = np.frombuffer(data, dtype=np.uint8) - np.uint8(48)  # chars below '0' wrap past 63
    if (bad_char := np.flatnonzero(c > 63)).size:
        flag(np.searchsorted(offsets, bad_char, side="right") - 1, "counts hold a character outside '0'..'o'")
        c[bad_char] = 0
    tails = offsets[1:][offsets[1:] > offsets[:-1]] - 1
    if (cut := tails[(c[tails] & 0x20) != 0]).size:
        flag(np.searchsorted(offsets, cut, side="right") - 1, "counts end in the middle of a number (truncated)")
        c[cut] &= 0x1F  # so that no number runs into the next mask
    # Numbers: 5 bits per char, low bits first; 0x20 = another char follows; 0x10 of the last = negative.
    ends = np.flatnonzero((c & 0x20) == 0)  # (M,) the last char of each number
    first = np.searchsorted(ends, offsets)  # (n + 1,) each mask's first number
    n_chars = np.diff(ends, prepend=-1)
    last = c[ends]
    x = (last & 0x1F).astype(np.int64)
    if (more := np.flatnonzero(n_chars > 1)).size:  # the few numbers of several chars, char by char
        k_more, at = n_chars[more], ends[more] - n_chars[more] + 1
        if (long := k_more > _MAX_COUNT_CHARS).any():
            owners = np.searchsorted(first, more[long], side="right") - 1
            flag(owners, f"a number in counts has more than {_MAX_COUNT_CHARS} characters")
            k_more = np.minimum(k_more, _MAX_COUNT_CHARS)
        value = np.zeros(more.size, dtype=np.int64)
        for k in range(int(k_more.max())):
            has = k < k_more
            value[has] |= (c[at[has] + k] & 0x1F).astype(np.int64) << (5 * k)
        x[more] = value
        n_chars[more] = k_more
    negative = np.flatnonzero(last & 0x10)
    x[negative] -= np.int64(1) << (5 * n_chars[negative])
    # Number m > 2 of a mask is stored as its difference to number m - 2, so run m is a running sum
    # along m, m - 2, ...: within one parity of the global index, restarting at each mask's numbers 0..2.
    heads = first[:-1, None] + np.arange(3)
    heads = heads[heads < first[1:, None]]  # sorted: mask by mask
    runs = np.empty_like(x)
    for p in (0, 1):
        sums = np.cumsum(x[p::2])
        opens = heads[heads % 2 == p] // 2  # chain starts within this parity (one at 0 whenever it has any)
        before = np.concatenate(([0], sums))[opens]
        runs[p::2] = sums - np.repeat(before, np.diff(opens, append=sums.size))
    if (wild := np.flatnonzero((runs < 0) | (runs > pixels.max()))).size:
        flag(np.searchsorted(first, wild, side="right") - 1, "a run length is negative or larger than h*w")
        runs[wild] = 0
    totals = np.diff(np.concatenate(([0], np.cumsum(runs)))[first])
    flags.append((totals != pixels, "run lengths sum to {total}, expected h*w = {pixels}"))
    found = [(int(np.argmax(bad)), message) for bad, message in flags if bad.any()]
    if not found:
        return None
    j = min(i for i, _ in found)
    message = next(m for i, m in found if i == j)
    return j, message.format(total=int(totals[j]), pixels=int(pixels[j]))
