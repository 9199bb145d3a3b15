"""Kaggle run-length encoding ⇄ COCO RLE, converted run by run without ever building dense masks.

Kaggle ``EncodedPixels`` are space-separated ``start length`` pairs, 1-indexed, column-major (down, then
right). A COCO uncompressed RLE is the same column-major pixel stream as alternating 0/1 run lengths
starting with zeros, so pairs map directly onto counts ``[start_0 - 1, len_0, gap_1, len_1, ..., trailing]``;
``pycocotools.mask.frPyObjects`` then compresses a whole batch at once (in C, one pass per mask: faster
here than any multi-pass numpy encoder).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pycocotools.mask as mask_util

from fashion_core.data.coco_string import decode_counts
from fashion_core.data.errors import DataError

CocoRle = dict[str, Any]  # {"size": [h, w], "counts": str | bytes | list[int]}

_TOKEN_RE = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class RleBatch:
    """B Kaggle masks converted together.

    ok: (B,) bool, False where the RLE is invalid (use ``check_kaggle_rle`` for the reason).
    heights, widths: (B,) int64 image sizes.
    counts: B compressed COCO RLE count strings as ASCII bytes, None where not ok.
    boxes: (B, 4) float64 XYWH in pixels (``pycocotools.mask.toBbox``), zeros where not ok.
    areas: (B,) float64 pixel counts, zeros where not ok.
    """

    ok: np.ndarray
    heights: np.ndarray
    widths: np.ndarray
    counts: list[bytes | None]
    boxes: np.ndarray
    areas: np.ndarray

    def rle(self, b: int) -> CocoRle | None:
        """Mask b as a compressed COCO RLE with counts as str, or None when its input was invalid."""
        counts = self.counts[b]
        if counts is None:
            return None
        return {"size": [int(self.heights[b]), int(self.widths[b])], "counts": counts.decode("ascii")}


def check_kaggle_rle(encoded: str, height: int, width: int) -> str | None:
    """Why ``encoded`` is not a valid Kaggle RLE for an image of ``height`` x ``width`` (None when valid)."""
    tokens = encoded.split()
    for i, tok in enumerate(tokens):
        if not _TOKEN_RE.fullmatch(tok):
            return f"token {i + 1} {tok!r} is not a non-negative integer"
    if len(tokens) % 2:
        return f"odd number of values ({len(tokens)}); expected 'start length' pairs"
    total = height * width
    prev_end = 1  # first pixel not yet covered, 1-indexed
    for k in range(len(tokens) // 2):
        start, length = int(tokens[2 * k]), int(tokens[2 * k + 1])
        if start < 1:
            return f"run {k + 1} starts at pixel {start}; pixels are 1-indexed"
        if length < 1:
            return f"run {k + 1} has length {length}; expected a positive length"
        if start < prev_end:
            return f"run {k + 1} starts at pixel {start}, before the end of the previous run ({prev_end - 1})"
        end = start + length - 1
        if end > total:
            return f"run {k + 1} ends at pixel {end} beyond Height*Width={total}"
        prev_end = end + 1
    return None


def kaggle_to_coco(encoded: str, height: int, width: int) -> CocoRle:
    """One Kaggle RLE → compressed COCO RLE (counts as str); DataError naming the problem when invalid."""
    rle = kaggle_batch_to_coco([encoded], np.array([height]), np.array([width])).rle(0)
    if rle is None:
        problem = check_kaggle_rle(encoded, height, width) or "invalid run-length encoding"
        raise DataError("<EncodedPixels>", "value", "EncodedPixels", problem)
    return rle


def kaggle_batch_to_coco(encoded: Sequence[str], heights: np.ndarray, widths: np.ndarray) -> RleBatch:
    """Convert B Kaggle RLE strings (B,) with image sizes (B,) to compressed COCO RLEs in one vectorized pass.

    Empty strings are valid empty masks. Adjacent runs (a run starting right where the previous ended)
    are merged so the result equals ``pycocotools.mask.encode`` of the same mask byte for byte.
    """
    n_rows = len(encoded)
    heights = np.asarray(heights, dtype=np.int64).reshape(-1)
    widths = np.asarray(widths, dtype=np.int64).reshape(-1)
    total = heights * widths
    values, n_tokens, ok = _parse_tokens(encoded)
    if not ok.all():  # odd token counts: drop those rows' values (rare, so the copy is too)
        values = values[np.repeat(ok, n_tokens)]
        n_tokens = np.where(ok, n_tokens, 0)
    runs = _Runs(values[0::2], values[1::2], n_tokens // 2)
    # gap = zeros before a run; negative means unsorted or overlapping runs (or a start below 1).
    bad = (runs.gaps < 0) | (runs.lengths < 1) | (runs.ends - 1 > total[runs.row])
    if bad.any():
        ok[runs.row[bad]] = False
        runs = runs.only(ok[runs.row])
    runs = runs.merge_touching()
    last_covered = np.zeros(n_rows, dtype=np.int64)
    has_runs = runs.per_row > 0
    last_covered[has_runs] = runs.ends[runs.offsets[1:][has_runs] - 1] - 1
    trailing = total - last_covered
    counts = np.empty(2 * runs.gaps.size, dtype=np.int64)
    counts[0::2], counts[1::2] = runs.gaps, runs.lengths
    # A zero trailing run is left out, as pycocotools' own encoder never emits one.
    tail = trailing > 0
    counts = np.insert(counts, (2 * runs.offsets[1:])[tail], trailing[tail])
    offsets = 2 * runs.offsets
    offsets[1:] += np.cumsum(tail)
    compressed, boxes = _compress(counts, offsets, heights, widths, ok)
    areas = np.bincount(runs.row, weights=runs.lengths, minlength=n_rows)
    return RleBatch(ok=ok, heights=heights, widths=widths, counts=compressed, boxes=boxes, areas=areas)


def _compress(
    counts: np.ndarray, offsets: np.ndarray, heights: np.ndarray, widths: np.ndarray, ok: np.ndarray
) -> tuple[list[bytes | None], np.ndarray]:
    """Compressed counts (None where not ok) and (B, 4) XYWH boxes of the rows' uncompressed counts."""
    good = np.flatnonzero(ok)
    parts = np.split(counts, offsets[1:-1])
    h, w = heights.tolist(), widths.tolist()
    objs = [{"size": [h[i], w[i]], "counts": parts[i]} for i in good.tolist()]
    out: list[bytes | None] = [None] * ok.size
    boxes = np.zeros((ok.size, 4), dtype=np.float64)
    if objs:
        rles = mask_util.frPyObjects(objs, 0, 0)  # h, w are unused for uncompressed input
        boxes[good] = mask_util.toBbox(rles)
        for i, r in zip(good.tolist(), rles):
            out[i] = r["counts"]
    return out, boxes


class _Runs:
    """P runs of B rows: (P,) 1-indexed starts, lengths, gaps (zeros before), ends (one past), row."""

    def __init__(self, starts: np.ndarray, lengths: np.ndarray, per_row: np.ndarray) -> None:
        self.starts, self.lengths, self.per_row = starts, lengths, per_row
        self.offsets = np.zeros(per_row.size + 1, dtype=np.int64)
        np.cumsum(per_row, out=self.offsets[1:])
        self.row = np.repeat(np.arange(per_row.size, dtype=np.int64), per_row)
        self.ends = starts + lengths
        self.first = self.offsets[:-1][per_row > 0]
        self.gaps = np.empty_like(starts)
        self.gaps[1:] = starts[1:] - self.ends[:-1]
        self.gaps[self.first] = starts[self.first] - 1

    def only(self, keep: np.ndarray) -> _Runs:
        kept_per_row = np.bincount(self.row[keep], minlength=self.per_row.size)
        return _Runs(self.starts[keep], self.lengths[keep], kept_per_row)

    def merge_touching(self) -> _Runs:
        """Join each run that starts right after its predecessor ends into that predecessor."""
        touching = self.gaps == 0
        touching[self.first] = False
        if not touching.any():
            return self
        head = np.flatnonzero(~touching)
        merged = np.add.reduceat(self.lengths, head)
        return _Runs(self.starts[head], merged, np.bincount(self.row[head], minlength=self.per_row.size))


def _parse_tokens(encoded: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All integers of all rows (N,) int64, tokens per row (B,), and (B,) rows well-formed so far."""
    n_tokens = np.fromiter((s.count(" ") + 1 if s else 0 for s in encoded), dtype=np.int64, count=len(encoded))
    text = " ".join(encoded)
    try:
        # np.fromstring's C text parser is the fastest bulk int parser numpy offers; it raises on
        # letters or dots, and a token count that disagrees with the spaces reveals anything else.
        values = np.fromstring(text, dtype=np.int64, sep=" ") if n_tokens.any() else np.zeros(0, np.int64)
        clean = values.size == n_tokens.sum() and "+" not in text and "-" not in text
    except ValueError:
        clean = False
    if not clean:
        return _parse_tokens_slowly(encoded)
    return values, n_tokens, n_tokens % 2 == 0


def _parse_tokens_slowly(encoded: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row by row: irregular whitespace is tolerated, a non-integer token marks its row bad."""
    values: list[int] = []
    n_tokens = np.zeros(len(encoded), dtype=np.int64)
    ok = np.ones(len(encoded), dtype=bool)
    for i, s in enumerate(encoded):
        tokens = s.split()
        if all(_TOKEN_RE.fullmatch(t) for t in tokens) and len(tokens) % 2 == 0:
            values.extend(int(t) for t in tokens)
            n_tokens[i] = len(tokens)
        else:
            ok[i] = False
    return np.array(values, dtype=np.int64), n_tokens, ok


def coco_counts(rle: CocoRle) -> np.ndarray:
    """(M,) int64 uncompressed run lengths (zeros first) of a compressed or uncompressed COCO RLE."""
    raw = rle["counts"]
    if isinstance(raw, list | np.ndarray):
        return np.asarray(raw, dtype=np.int64)
    return decode_counts(raw)


def coco_rle_to_kaggle(rle: CocoRle) -> str:
    """A COCO RLE (compressed or uncompressed) → Kaggle ``start length`` pairs ("" for an empty mask)."""
    counts = coco_counts(rle)
    return _counts_to_kaggle(counts)


def _counts_to_kaggle(counts: np.ndarray) -> str:
    ends = np.cumsum(counts)
    ones_len = counts[1::2]
    starts = ends[0::2][: ones_len.size] + 1  # a run of ones starts right after the preceding zeros
    keep = ones_len > 0
    pairs = np.empty(2 * int(keep.sum()), dtype=np.int64)
    pairs[0::2], pairs[1::2] = starts[keep], ones_len[keep]
    return " ".join(map(str, pairs.tolist()))


def mask_to_kaggle(mask: np.ndarray) -> str:
    """(H, W) bool/uint8 dense mask → Kaggle RLE string (column-major, 1-indexed)."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    padded = np.concatenate(([False], flat, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # alternating run begins / ends, 0-indexed
    starts, stops = edges[0::2], edges[1::2]
    pairs = np.empty(2 * starts.size, dtype=np.int64)
    pairs[0::2], pairs[1::2] = starts + 1, stops - starts
    return " ".join(map(str, pairs.tolist()))


def kaggle_to_mask(encoded: str, height: int, width: int) -> np.ndarray:
    """Kaggle RLE → (H, W) uint8 dense mask (for tests and drawing; the readers never do this)."""
    return np.asarray(mask_util.decode(kaggle_to_coco(encoded, height, width)), dtype=np.uint8)
