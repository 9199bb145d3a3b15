"""Kaggle run-length encoding ⇄ COCO RLE, converted run by run without ever building dense masks.

Kaggle ``EncodedPixels`` are space-separated ``start length`` pairs, 1-indexed, column-major (down, then
right). A COCO uncompressed RLE is the same column-major pixel stream as alternating 0/1 run lengths
starting with zeros, so pairs map directly onto counts ``[start_0 - 1, len_0, gap_1, len_1, ..., trailing]``.
A batch of masks is parsed, checked, boxed and compressed in one compiled pass over its text
(``_kernels.pyx``): no per-mask Python call, so 333k masks cost what their bytes cost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pycocotools.mask as mask_util

from fashion_core.data._arrays import Scratch, text_and_bounds
from fashion_core.data._coco_string import decode_counts
from fashion_core.data._compiled import ASCII_SPACE, kernels
from fashion_core.data._errors import DataError

CocoRle = dict[str, Any]  # {"size": [h, w], "counts": str | bytes | list[int]}

_TOKEN_RE = re.compile(r"[0-9]+")
_SEPARATORS_RE = re.compile(f"[{ASCII_SPACE}]+")


@dataclass(frozen=True)
class RleBatch:
    """B Kaggle masks converted together.

    ok: (B,) bool, False where the RLE is invalid (use ``check_kaggle_rle`` for the reason).
    heights, widths: (B,) int64 image sizes.
    chars, char_offsets: (C,) uint8 and (B + 1,) int64; mask b's compressed COCO counts are the ASCII
        ``chars[char_offsets[b]:char_offsets[b + 1]]`` (empty where not ok).
    boxes: (B, 4) float64 XYWH in pixels, as ``pycocotools.mask.toBbox`` gives them; zeros where not ok.
    areas: (B,) float64 pixel counts, zeros where not ok.
    """

    ok: np.ndarray
    heights: np.ndarray
    widths: np.ndarray
    chars: np.ndarray
    char_offsets: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray

    def rle(self, b: int) -> CocoRle | None:
        """Mask b as a compressed COCO RLE with counts as str, or None when its input was invalid."""
        if not self.ok[b]:
            return None
        counts = self.chars[self.char_offsets[b] : self.char_offsets[b + 1]].tobytes().decode("ascii")
        return {"size": [int(self.heights[b]), int(self.widths[b])], "counts": counts}


def check_kaggle_rle(encoded: str, height: int, width: int) -> str | None:
    """Why ``encoded`` is not a valid Kaggle RLE for an image of ``height`` x ``width`` (None when valid)."""
    tokens = [t for t in _SEPARATORS_RE.split(encoded) if t]
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


def kaggle_batch_to_coco(
    encoded: Sequence[str] | pa.Array | pa.ChunkedArray,
    heights: np.ndarray,
    widths: np.ndarray,
    rows: np.ndarray | None = None,
    scratch: Scratch | None = None,
) -> RleBatch:
    """Convert Kaggle RLE strings (a list or an Arrow string array) at once, in one compiled pass.

    rows: (B,) indices of the strings to convert (default: all); heights, widths: (B,) their image sizes.
    Empty strings are valid empty masks. Adjacent runs (a run starting right where the previous ended)
    are merged so the result equals ``pycocotools.mask.encode`` of the same mask byte for byte.
    ``scratch`` (one per thread) lends the output buffer, so that block after block reuses its memory.
    """
    k = kernels()
    column = encoded if isinstance(encoded, pa.Array | pa.ChunkedArray) else pa.array(list(encoded), type=pa.string())
    text, bounds = text_and_bounds(column)
    n = bounds.size - 1
    rows = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
    heights = np.asarray(heights, dtype=np.int64).reshape(-1)
    widths = np.asarray(widths, dtype=np.int64).reshape(-1)
    if not heights.size == widths.size == rows.size:
        raise ValueError(f"got {rows.size} rows but {heights.size} heights and {widths.size} widths")
    if rows.size and (min(heights.min(), widths.min()) < 1 or rows.min() < 0 or rows.max() >= n):
        raise ValueError("heights and widths must be >= 1 and rows index the strings")
    starts, ends = bounds[rows], bounds[rows + 1]
    capacity = k.output_capacity(int((ends - starts).sum()), rows.size)
    out = (scratch or Scratch()).array("rle_chars", capacity, np.uint8)
    ok = np.empty(rows.size, dtype=bool)
    char_offsets = np.zeros(rows.size + 1, dtype=np.int64)
    boxes = np.empty((rows.size, 4), dtype=np.float64)
    areas = np.empty(rows.size, dtype=np.float64)
    ok_bytes = ok.view(np.uint8)
    written = k.convert_rows(text, starts, ends, heights, widths, out, ok_bytes, char_offsets[1:], boxes, areas)
    return RleBatch(
        ok=ok,
        heights=heights,
        widths=widths,
        chars=out[:written].copy(),  # owned: the scratch buffer is reused by the next call
        char_offsets=char_offsets,
        boxes=boxes,
        areas=areas,
    )


def coco_counts(rle: CocoRle) -> np.ndarray:
    """(M,) int64 uncompressed run lengths (zeros first) of a compressed or uncompressed COCO RLE."""
    raw = rle["counts"]
    if isinstance(raw, list | np.ndarray):
        return np.asarray(raw, dtype=np.int64)
    return decode_counts(raw)


def segmentation_to_rle(segm: list[list[float]] | CocoRle, height: int, width: int) -> CocoRle:
    """Any COCO segmentation of a ``height`` x ``width`` image -> one compressed RLE, as COCO's ``annToRLE``.

    Polygons are rasterized and merged into one mask; an uncompressed RLE (counts a list) is compressed
    (counts come back as bytes, as pycocotools writes them); a compressed RLE comes back as it is.
    """
    if isinstance(segm, list):
        return mask_util.merge(mask_util.frPyObjects(segm, height, width))
    if isinstance(segm["counts"], list | np.ndarray):
        return mask_util.frPyObjects(dict(segm), height, width)
    return segm


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
