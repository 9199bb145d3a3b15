"""The runs of a batch of Kaggle masks as flat arrays: validation, merging, boxes, areas, COCO counts.

A mask's runs are its ``start length`` pairs, 1-indexed pixels in column-major order (down, then right).
Everything here is whole-array numpy over all runs of all masks of a block; per-mask work is (B,)-sized.
"""

from __future__ import annotations

import numpy as np

from fashion_core.data.coco_string import encode_runs, encode_values
from fashion_core.data.ragged import ragged_index
from fashion_core.data.scratch import Scratch


class Runs:
    """P runs of B masks, mask b owning runs offsets[b]:offsets[b + 1].

    starts: (P,) 1-indexed first pixels; lengths: (P,) pixels; ends: (P,) one past the last pixel;
    gaps: (P,) zeros before each run (negative: unsorted, overlapping, or a start below 1);
    first, last: (R,) the first and last run of each of the R masks that have runs.
    ``ends`` and ``gaps`` live in ``scratch`` (valid until the next Runs is made with it).
    """

    def __init__(self, starts: np.ndarray, lengths: np.ndarray, per_row: np.ndarray, scratch: Scratch) -> None:
        self.starts, self.lengths, self.per_row, self.scratch = starts, lengths, per_row, scratch
        self.offsets = np.zeros(per_row.size + 1, dtype=np.int64)
        np.cumsum(per_row, out=self.offsets[1:])
        self.has_runs = per_row > 0
        self.first = self.offsets[:-1][self.has_runs]
        self.last = self.offsets[1:][self.has_runs] - 1
        self.ends = np.add(starts, lengths, out=scratch.array("runs_end", starts.size, np.int64))
        self.gaps = scratch.array("runs_gap", starts.size, np.int64)
        np.subtract(starts[1:], self.ends[:-1], out=self.gaps[1:])
        self.gaps[self.first] = starts[self.first] - 1

    @classmethod
    def from_pairs(cls, values: np.ndarray, offsets: np.ndarray, ok: np.ndarray, scratch: Scratch) -> Runs:
        """Runs from rows of ``start length`` values (row b: values[offsets[b]:offsets[b + 1]]); rows not
        ``ok`` get none."""
        per_row = np.diff(offsets) // 2
        if not ok.all():  # drop bad rows' values (rare, so the copy is too)
            values = values[np.repeat(ok, np.diff(offsets))]
            per_row = np.where(ok, per_row, 0)
        pairs = values.reshape(-1, 2)
        return cls(pairs[:, 0], pairs[:, 1], per_row, scratch)

    def row_of(self, runs: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, runs, side="right") - 1

    def invalid_rows(self, total: np.ndarray) -> np.ndarray:
        """(B,) bool: rows with a run that starts before pixel 1 or the previous run's end, is empty, or
        ends beyond the image. Runs of a valid row increase, so only its last can pass the image end."""
        bad = np.zeros(self.per_row.size, dtype=bool)
        if self.starts.size and (self.gaps.min() < 0 or self.lengths.min() < 1):
            bad[self.row_of(np.flatnonzero((self.gaps < 0) | (self.lengths < 1)))] = True
        bad[self.has_runs] |= self.ends[self.last] - 1 > total[self.has_runs]
        return bad

    def only(self, keep_rows: np.ndarray) -> Runs:
        keep = np.repeat(keep_rows, self.per_row)
        return Runs(self.starts[keep], self.lengths[keep], np.where(keep_rows, self.per_row, 0), self.scratch)

    def merge_touching(self) -> Runs:
        """Join each run that starts right where its predecessor ends into that predecessor (as
        pycocotools' encoder would see the mask)."""
        if not self.starts.size or self.gaps.min() > 0:
            return self
        touching = self.gaps == 0
        touching[self.first] = False  # a mask may start at pixel 1
        if not touching.any():
            return self
        head = np.flatnonzero(~touching)
        merged = np.add.reduceat(self.lengths, head)
        per_row = self.per_row - np.bincount(self.row_of(np.flatnonzero(touching)), minlength=self.per_row.size)
        return Runs(self.starts[head], merged, per_row, self.scratch)

    def boxes_and_areas(self, heights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, 4) float64 XYWH boxes and (B,) areas, zeros for rows without runs; exactly pycocotools' toBbox.

        Pixel p (0-indexed) is at x = p // h, y = p % h. A run that stays in its column spans rows
        y..y + length - 1; one that wraps into the next column covers rows h - 1 and 0, so the box then
        spans the full height, as in pycocotools. Float64 arithmetic is exact here (integers < 2**53)
        and, unlike integer division by an array, vectorized.
        """
        boxes = np.zeros((self.per_row.size, 4), dtype=np.float64)
        areas = np.zeros(self.per_row.size, dtype=np.float64)
        if not self.first.size:
            return boxes, areas
        n = self.starts.size
        h_row = heights[self.has_runs].astype(np.float64)
        h = np.repeat(h_row, self.per_row[self.has_runs])  # each run's image height
        pixel = np.subtract(self.starts, 1, out=self.scratch.array("box_pixel", n, np.float64), casting="unsafe")
        column = np.divide(pixel, h, out=self.scratch.array("box_column", n, np.float64))
        np.floor(column, out=column)
        x_min = column[self.first]
        column *= h
        y = np.subtract(pixel, column, out=pixel)  # row of each run's first pixel
        y_min = np.minimum.reduceat(y, self.first)
        y += self.lengths  # one past each run's last row
        y_max = np.maximum.reduceat(y, self.first) - 1
        wraps = y_max >= h_row
        y_min[wraps] = 0
        y_max[wraps] = h_row[wraps] - 1
        x_max = (self.ends[self.last] - 2) // heights[self.has_runs]
        boxes[self.has_runs] = np.stack([x_min, y_min, x_max - x_min + 1, y_max - y_min + 1], axis=1)
        areas[self.has_runs] = np.add.reduceat(self.lengths, self.first)
        return boxes, areas

    def compress(self, total: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Compressed COCO counts of every ok row as ASCII chars and (B + 1,) offsets ("" where not ok).

        An ok row without runs is an empty mask: the single count h*w.
        """
        tails = total[self.has_runs] - (self.ends[self.last] - 1)  # 0 (mask ends at the last pixel): none
        run_offsets = np.append(self.offsets[:-1][self.has_runs], self.offsets[-1])
        chars, char_offsets = encode_runs(self.gaps, self.lengths, run_offsets, tails, self.scratch)
        lengths = np.zeros(ok.size, dtype=np.int64)
        lengths[self.has_runs] = np.diff(char_offsets)
        empty = np.flatnonzero(ok & ~self.has_runs & (total > 0))
        if empty.size:  # rare: the readers reject empty masks
            empty_chars, empty_offsets = encode_values(total[empty])
            lengths[empty] = np.diff(empty_offsets)
            pieces = np.concatenate([char_offsets, chars.size + empty_offsets[1:]])
            order = np.argsort(np.concatenate([np.flatnonzero(self.has_runs), empty]))
            chars = np.concatenate([chars, empty_chars])[ragged_index(pieces, order)]
        offsets = np.zeros(ok.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return chars, offsets
