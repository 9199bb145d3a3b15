"""A parsed Kaggle dataset held column by column, and its expansion into detectron2 dataset dicts.

Columns keep 333k annotations in a few hundred MB of arrays (the cache stores exactly these); the
per-annotation Python dicts detectron2 wants are built once, at the end, in one tight loop.
"""

from __future__ import annotations

import functools
import gc
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fashion_core.data.ragged import ragged_index, ragged_offsets

DatasetDict = dict[str, Any]


@dataclass(frozen=True)
class AnnotationTable:
    """I images and N annotations, annotations grouped by image in image order.

    image_ids: I ImageId strings; heights, widths: (I,) int64 pixels;
    ann_offsets: (I + 1,) int64, image i owns annotations ann_offsets[i]:ann_offsets[i + 1];
    category: (N,) int64 contiguous class index; boxes: (N, 4) float64 XYWH pixels; areas: (N,) float64;
    rle_chars, rle_offsets: (C,) uint8 and (N + 1,) int64: the N compressed COCO RLE count strings (size is
        the image's [h, w]) as ASCII, concatenated, annotation j's being rle_chars[rle_offsets[j]:rle_offsets[j + 1]]
        (one array, not 333k objects);
    attr_offsets: (N + 1,) int64 into attr_ids: (M,) int64 raw Fashionpedia attribute ids, sorted per row.
    """

    image_ids: list[str]
    heights: np.ndarray
    widths: np.ndarray
    ann_offsets: np.ndarray
    category: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    rle_chars: np.ndarray
    rle_offsets: np.ndarray
    attr_offsets: np.ndarray
    attr_ids: np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    @property
    def num_annotations(self) -> int:
        return len(self.rle_offsets) - 1

    def rle_counts(self, j: int) -> str:
        """Compressed COCO RLE counts of annotation ``j``."""
        return self.rle_chars[int(self.rle_offsets[j]) : int(self.rle_offsets[j + 1])].tobytes().decode("ascii")

    def rle_strings(self) -> list[str]:
        """The N compressed COCO RLE counts as str, built by Arrow straight from the chars (one copy each)."""
        return self.rle_array().to_pylist()

    def rle_array(self) -> pa.LargeStringArray:
        """The compressed COCO RLE counts as an Arrow string array viewing ``rle_chars`` (no copy)."""
        offsets = np.ascontiguousarray(self.rle_offsets, dtype=np.int64)
        chars = np.ascontiguousarray(self.rle_chars, dtype=np.uint8)
        return pa.LargeStringArray.from_buffers(offsets.size - 1, pa.py_buffer(offsets), pa.py_buffer(chars))

    def select_images(self, keep: np.ndarray) -> AnnotationTable:
        """The table restricted to images where ``keep`` (I,) bool is True, order preserved."""
        images = np.flatnonzero(keep)
        ann = ragged_index(self.ann_offsets, images)
        attr_index = ragged_index(self.attr_offsets, ann)
        return AnnotationTable(
            image_ids=[self.image_ids[i] for i in images.tolist()],
            heights=self.heights[images],
            widths=self.widths[images],
            ann_offsets=ragged_offsets(self.ann_offsets, images),
            category=self.category[ann],
            boxes=self.boxes[ann],
            areas=self.areas[ann],
            rle_chars=self.rle_chars[ragged_index(self.rle_offsets, ann)],
            rle_offsets=ragged_offsets(self.rle_offsets, ann),
            attr_offsets=ragged_offsets(self.attr_offsets, ann),
            attr_ids=self.attr_ids[attr_index],
        )

    def to_dicts(self, image_dir: str | Path) -> list[DatasetDict]:
        """detectron2 dataset dicts; ``file_name`` is ``image_dir/<ImageId>.jpg``.

        The annotations of one image share one ``segmentation["size"]`` list (read-only by convention, as
        everywhere in detectron2): one list per image instead of per annotation makes this ~15% faster.
        The per-annotation strings come from Arrow, which builds them in C++.
        """
        box_mode = xywh_abs()
        # Hundreds of thousands of small containers: the cyclic GC would rescan them (and, in a process
        # that has imported torch, millions of other objects) over and over; 10x slower with it on.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            sizes = [[h, w] for h, w in zip(self.heights.tolist(), self.widths.tolist())]
            per_image = np.diff(self.ann_offsets).tolist()
            ann_sizes = itertools.chain.from_iterable(map(itertools.repeat, sizes, per_image))
            attr_values, attr_offsets = self.attr_ids.tolist(), self.attr_offsets.tolist()
            # (Arrow's list to_pylist would be as fast but imports pandas on first use.)
            attrs = [attr_values[a0:a1] for a0, a1 in itertools.pairwise(attr_offsets)]
            counts = self.rle_strings()
            anns = [
                {
                    "bbox": box,
                    "bbox_mode": box_mode,
                    "category_id": cat,
                    "segmentation": {"size": size, "counts": rle},
                    "attribute_ids": attr,
                    "iscrowd": 0,
                    "area": area,
                }
                for box, cat, size, rle, attr, area in zip(
                    self.boxes.tolist(), self.category.tolist(), ann_sizes, counts, attrs, self.areas.tolist()
                )
            ]
            prefix = str(Path(image_dir)) + "/"
            offs = self.ann_offsets.tolist()
            return [
                {
                    "file_name": f"{prefix}{image_id}.jpg",
                    "image_id": image_id,
                    "height": h,
                    "width": w,
                    "annotations": anns[o0:o1],
                }
                for image_id, h, w, o0, o1 in zip(
                    self.image_ids, self.heights.tolist(), self.widths.tolist(), offs[:-1], offs[1:]
                )
            ]
        finally:
            if gc_was_enabled:
                gc.enable()


@functools.cache
def xywh_abs() -> Any:
    """detectron2's ``BoxMode.XYWH_ABS`` when detectron2 is installed, else its value, the int 1."""
    try:
        from detectron2.structures import BoxMode
    except ImportError:
        return 1
    return BoxMode.XYWH_ABS
