"""A parsed Kaggle dataset held column by column, and its expansion into detectron2 dataset dicts.

Columns keep 333k annotations in a few hundred MB of arrays (the cache stores exactly these); the
per-annotation Python dicts detectron2 wants are built from them on access (``TableDicts``), in bulk.
"""

from __future__ import annotations

import functools
import gc
import itertools
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
import pyarrow as pa

from fashion_core.data._arrays import ragged_index, ragged_offsets

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

    def to_dicts(self, image_dir: str | Path) -> TableDicts:
        """The images as detectron2 dataset dicts, built on access (``TableDicts``)."""
        return TableDicts(self, image_dir)

    def build_dicts(self, image_dir: str | Path, images: np.ndarray) -> list[DatasetDict]:
        """detectron2 dataset dicts of ``images`` (K,) image indices; ``file_name`` is ``image_dir/<ImageId>.jpg``.

        The annotations of one image share one ``segmentation["size"]`` list (read-only by convention, as
        everywhere in detectron2): one list per image instead of per annotation makes this ~15% faster.
        The per-annotation strings come from Arrow, which builds them in C++.
        """
        box_mode = xywh_abs()
        images = np.asarray(images, dtype=np.int64).reshape(-1)
        ann_offsets = ragged_offsets(self.ann_offsets, images)
        ann: np.ndarray | slice
        if images.size and images[-1] - images[0] + 1 == images.size and (np.diff(images) == 1).all():
            # A run of images (iteration, slices): views of the columns instead of gathered copies.
            a0, a1 = int(self.ann_offsets[images[0]]), int(self.ann_offsets[images[-1] + 1])
            ann = slice(a0, a1)
            attr: np.ndarray | slice = slice(int(self.attr_offsets[a0]), int(self.attr_offsets[a1]))
            attr_offsets = (self.attr_offsets[a0 : a1 + 1] - self.attr_offsets[a0]).tolist()
            rles = self.rle_array().slice(a0, a1 - a0)
        else:
            ann = ragged_index(self.ann_offsets, images)
            attr = ragged_index(self.attr_offsets, ann)
            attr_offsets = ragged_offsets(self.attr_offsets, ann).tolist()
            rles = self.rle_array().take(pa.array(ann))
        # Hundreds of thousands of small containers: the cyclic GC would rescan them (and, in a process
        # that has imported torch, millions of other objects) over and over; 10x slower with it on.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            heights, widths = self.heights[images].tolist(), self.widths[images].tolist()
            sizes = [[h, w] for h, w in zip(heights, widths)]
            ann_sizes = itertools.chain.from_iterable(map(itertools.repeat, sizes, np.diff(ann_offsets).tolist()))
            attr_values = self.attr_ids[attr].tolist()
            # (Arrow's list to_pylist would be as fast but imports pandas on first use.)
            attrs = [attr_values[a0:a1] for a0, a1 in itertools.pairwise(attr_offsets)]
            counts = rles.to_pylist()
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
                    self.boxes[ann].tolist(),
                    self.category[ann].tolist(),
                    ann_sizes,
                    counts,
                    attrs,
                    self.areas[ann].tolist(),
                )
            ]
            prefix = str(Path(image_dir)) + "/"
            offs = ann_offsets.tolist()
            return [
                {
                    "file_name": f"{prefix}{image_id}.jpg",
                    "image_id": image_id,
                    "height": h,
                    "width": w,
                    "annotations": anns[o0:o1],
                }
                for image_id, h, w, o0, o1 in zip(
                    [self.image_ids[i] for i in images.tolist()], heights, widths, offs[:-1], offs[1:]
                )
            ]
        finally:
            if gc_was_enabled:
                gc.enable()


class TableDicts(Sequence[DatasetDict]):
    """detectron2 dataset dicts of an ``AnnotationTable``, one per image, built when they are read.

    Loading then costs what the table costs (a cached reload is a few array reads), and a process holds
    ~600 B of arrays per annotation instead of ~3 KB of Python objects, without the copy-on-read growth
    of Python objects in forked data-loader workers (what detectron2's ``DatasetFromList(serialize=True)``
    works around by pickling every dict). Each read builds fresh dicts: changing one changes nothing
    stored. Slicing and ``take`` give views; ``list(d)`` builds them all (~0.7 s for the full Kaggle set).

    images: (K,) indices into the table of the images shown, in order (all of them by default).
    """

    _CHUNK = 4096  # images built at once when iterating: bulk speed, bounded memory

    def __init__(self, table: AnnotationTable, image_dir: str | Path, images: np.ndarray | None = None) -> None:
        self.table = table
        self.image_dir = str(image_dir)
        self.images = np.arange(table.num_images, dtype=np.int64) if images is None else np.asarray(images, np.int64)

    def __len__(self) -> int:
        return int(self.images.size)

    @overload
    def __getitem__(self, index: int) -> DatasetDict: ...

    @overload
    def __getitem__(self, index: slice) -> TableDicts: ...

    def __getitem__(self, index: int | slice) -> DatasetDict | TableDicts:
        if isinstance(index, slice):
            return self.take(np.arange(len(self))[index])
        i = operator.index(index)
        if not -len(self) <= i < len(self):
            raise IndexError(f"image {i} out of range for {len(self)} images")
        i %= len(self)
        return self.table.build_dicts(self.image_dir, self.images[i : i + 1])[0]

    def __iter__(self) -> Iterator[DatasetDict]:
        for lo in range(0, len(self), self._CHUNK):
            yield from self.table.build_dicts(self.image_dir, self.images[lo : lo + self._CHUNK])

    def take(self, positions: np.ndarray | Sequence[int]) -> TableDicts:
        """The images at ``positions`` (K,) of this sequence, in that order, as a view."""
        return TableDicts(self.table, self.image_dir, self.images[np.asarray(positions, dtype=np.int64)])

    @property
    def image_ids(self) -> list[str]:
        """The ``image_id`` of every image, in order, without building the dicts."""
        return [self.table.image_ids[i] for i in self.images.tolist()]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # mutable-sequence semantics: equality by content

    def __repr__(self) -> str:
        return f"TableDicts({len(self)} images, {self.image_dir!r})"


@functools.cache
def xywh_abs() -> Any:
    """detectron2's ``BoxMode.XYWH_ABS`` when detectron2 is installed, else its value, the int 1."""
    try:
        from detectron2.structures import BoxMode
    except ImportError:
        return 1
    return BoxMode.XYWH_ABS
