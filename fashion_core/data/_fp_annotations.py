"""Validate one Fashionpedia annotation (COCO + ``attribute_ids``) and turn it into a detectron2 one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import pycocotools.mask as mask_util

from fashion_core.data._errors import DataError
from fashion_core.data._rle import CocoRle, coco_counts, segmentation_to_rle
from fashion_core.data._table import xywh_abs
from fashion_core.data._taxonomy import Taxonomy


def is_int(value: Any) -> TypeGuard[int]:
    """An int that is not a bool (JSON ``true`` would otherwise pass as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def convert_annotation(ann: Any, index: int, height: int, width: int, taxonomy: Taxonomy, path: Path) -> dict[str, Any]:
    """One annotation of an image of ``height`` x ``width`` → detectron2 annotation dict; DataError if bad."""
    if not isinstance(ann, Mapping):
        raise DataError(path, f"annotation index {index}", "annotation", f"expected an object, got {ann!r:.60}")
    where = f"annotation id {ann.get('id')} (index {index})" if "id" in ann else f"annotation index {index}"

    def fail(field: str, problem: str) -> DataError:
        return DataError(path, where, field, problem)

    cat = ann.get("category_id")
    lut = taxonomy.class_lut
    if not is_int(cat) or not 0 <= cat < lut.size or lut[cat] < 0:
        raise fail(
            "category_id",
            f"unknown category id {cat!r}; expected one of {min(taxonomy.class_ids)}..{max(taxonomy.class_ids)}",
        )
    attrs = ann.get("attribute_ids", [])
    a_lut = taxonomy.attribute_lut
    if not isinstance(attrs, list) or not all(is_int(a) for a in attrs):
        raise fail("attribute_ids", f"expected a list of integer ids, got {attrs!r:.80}")
    unknown = [a for a in attrs if not 0 <= a < a_lut.size or a_lut[a] < 0]
    if unknown:
        raise fail(
            "attribute_ids",
            f"unknown attribute id(s) {unknown}; expected ids of the {taxonomy.num_attributes}-attribute taxonomy",
        )
    segm = _segmentation(ann.get("segmentation"), height, width, fail)
    bbox = ann.get("bbox")
    if bbox is None:
        bbox = mask_util.toBbox(segmentation_to_rle(segm, height, width)).tolist()
    elif not (isinstance(bbox, list) and len(bbox) == 4 and all(_finite(v) for v in bbox) and min(bbox[2:]) >= 0):
        raise fail("bbox", f"expected [x, y, w, h] with finite numbers and w, h >= 0, got {bbox!r:.80}")
    area = ann.get("area")
    if area is None:
        area = float(mask_util.area(segmentation_to_rle(segm, height, width)))
    elif not _finite(area) or area < 0:
        raise fail("area", f"expected a finite non-negative number, got {area!r}")
    iscrowd = ann.get("iscrowd", 0)
    if iscrowd not in (0, 1):
        raise fail("iscrowd", f"expected 0 or 1, got {iscrowd!r}")
    return {
        "bbox": [float(v) for v in bbox],
        "bbox_mode": xywh_abs(),
        "category_id": int(lut[cat]),
        "segmentation": segm,
        "attribute_ids": sorted(set(attrs)),
        "iscrowd": int(iscrowd),
        "area": float(area),
    }


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _finite_numbers(values: list[Any]) -> bool:
    # numpy checks a few hundred coordinates far faster than a Python loop (333k annotations at full size).
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return arr.ndim == 1 and bool(np.isfinite(arr).all())


def _segmentation(segm: Any, height: int, width: int, fail: Any) -> list[list[float]] | CocoRle:
    """Polygons (degenerate ones dropped, as detectron2 does) or a compressed RLE checked against the size."""
    if isinstance(segm, list):
        if not all(isinstance(p, list) and _finite_numbers(p) for p in segm):
            raise fail("segmentation", "expected a list of polygons, each a flat list of finite numbers")
        odd = [i for i, p in enumerate(segm) if len(p) % 2]
        if odd:
            raise fail("segmentation", f"polygon {odd[0]} has an odd number of coordinates ({len(segm[odd[0]])})")
        polygons = [p for p in segm if len(p) >= 6]
        if not polygons:
            raise fail("segmentation", "no polygon with at least 3 points")
        return polygons
    if isinstance(segm, Mapping) and "counts" in segm and "size" in segm:
        if list(segm["size"]) != [height, width]:
            raise fail(
                "segmentation",
                f"RLE size {segm['size']} differs from the image's [height, width] = [{height}, {width}]",
            )
        counts = segm["counts"]
        if not isinstance(counts, str | bytes | list):
            raise fail("segmentation", f"RLE counts must be a string or a list, got {type(counts).__name__}")
        try:
            runs = coco_counts(dict(segm))
        except (ValueError, UnicodeError, IndexError) as e:
            raise fail("segmentation", f"RLE counts cannot be decoded ({e})") from e
        if (runs < 0).any() or int(runs.sum()) != height * width:
            raise fail(
                "segmentation",
                f"RLE runs sum to {int(runs.sum())}, expected height*width = {height * width}, all non-negative",
            )
        if isinstance(counts, list):
            compressed = segmentation_to_rle({"size": [height, width], "counts": counts}, height, width)
            return {"size": [height, width], "counts": compressed["counts"].decode("ascii")}
        text = counts.decode("ascii") if isinstance(counts, bytes) else counts
        return {"size": [height, width], "counts": text}
    raise fail("segmentation", f"expected polygons or an RLE dict with 'size' and 'counts', got {segm!r:.60}")

