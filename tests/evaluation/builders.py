"""Small helpers to write Fashionpedia ground truth and results by hand (rectangles on tiny images)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pycocotools.mask as mask_utils

ATTRIBUTES = (0, 3, 7, 115, 200, 318)


def rect_rle(h: int, w: int, box: tuple[float, float, float, float]) -> dict[str, Any]:
    """Compressed RLE (str counts) of the pixels of an integer [x, y, w, h] box in an h x w image."""
    x, y, bw, bh = (int(v) for v in box)
    m = np.zeros((h, w), dtype=np.uint8)
    m[y:y + bh, x:x + bw] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def gt_doc(images: list[dict[str, Any]], anns: list[dict[str, Any]], *, categories: range | list[int] = range(46),
           attributes: tuple[int, ...] = ATTRIBUTES) -> dict[str, Any]:
    return {
        "images": images,
        "annotations": anns,
        "categories": [{"id": c, "name": f"c{c}", "supercategory": "x"} for c in categories],
        "attributes": [{"id": a, "name": f"a{a}"} for a in attributes],
    }


def image(img_id: Any, h: int = 20, w: int = 20) -> dict[str, Any]:
    return {"id": img_id, "height": h, "width": w, "file_name": f"{img_id}.jpg"}


def gt_ann(ann_id: Any, img: dict[str, Any], cat: int, box: tuple[float, float, float, float], *,
           attrs: list[int] | None = None, crowd: int = 0, area: float | None = None) -> dict[str, Any]:
    return {
        "id": ann_id, "image_id": img["id"], "category_id": cat, "bbox": [float(v) for v in box],
        "segmentation": rect_rle(img["height"], img["width"], box),
        "area": float(box[2] * box[3]) if area is None else area, "iscrowd": crowd,
        "attribute_ids": [] if attrs is None else attrs,
    }


def det(img: dict[str, Any], cat: int, box: tuple[float, float, float, float], score: float, *,
        attrs: list[int] | None = None, with_bbox: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"image_id": img["id"], "category_id": cat, "score": score,
                         "segmentation": rect_rle(img["height"], img["width"], box)}
    if attrs is not None:
        d["attribute_ids"] = attrs
    if with_bbox:
        d["bbox"] = [float(v) for v in box]
    return d
