"""detectron2 dataset dicts -> a Fashionpedia ground-truth document (what the evaluator scores against)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util

from fashion_core.data._rle import segmentation_to_rle


def dataset_dicts_to_gt(
    dicts: Sequence[Mapping[str, Any]], *, class_index_to_id: Sequence[int], attribute_ids: Sequence[int] | np.ndarray
) -> dict[str, Any]:
    """Fashionpedia ground truth from detectron2 dataset dicts (contiguous ``category_id``).

    Boxes become XYWH; a missing ``area`` is the mask's pixel count. ``class_index_to_id`` lists every
    category (the official summary needs the 46 Fashionpedia ones), ``attribute_ids`` every attribute.
    """
    from detectron2.structures import BoxMode  # dicts with a bbox_mode come from where detectron2 runs

    class_ids = list(class_index_to_id)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for d in dicts:
        images.append(
            {"id": d["image_id"], "height": d["height"], "width": d["width"], "file_name": str(d.get("file_name", ""))}
        )
        for a in d.get("annotations", []):
            box = BoxMode.convert(list(a["bbox"]), a.get("bbox_mode", BoxMode.XYWH_ABS), BoxMode.XYWH_ABS)
            segm = a.get("segmentation")
            area = a.get("area")
            if area is None:
                area = float(mask_util.area(segmentation_to_rle(segm, d["height"], d["width"])))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": d["image_id"],
                    "category_id": class_ids[a["category_id"]],
                    "segmentation": segm,
                    "bbox": [float(v) for v in box],
                    "area": float(area),
                    "iscrowd": int(a.get("iscrowd", 0)),
                    "attribute_ids": list(a.get("attribute_ids", [])),
                }
            )
    return {
        "images": images,
        "annotations": anns,
        "categories": [{"id": c, "name": str(c), "supercategory": ""} for c in class_ids],
        "attributes": [{"id": int(a), "name": str(a)} for a in attribute_ids],
    }
