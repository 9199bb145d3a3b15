"""Random Fashionpedia ground truth + results small enough for the official evaluator, with many collisions.

Used by the oracle tests (plain seeded generator and hypothesis strategy). Small images, few categories
from every group (attribute-checked garments and parts, accessories, parts without attributes), a small
attribute pool, scores from a short list (ties), crowd ground truth, file areas at the range boundaries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pycocotools.mask as mask_utils

# Attribute-checked garment (0, 1), accessory (13, 20), part with attributes (28, 32),
# parts without (27, 45). Ids 0..45 are all declared in the ground truth.
CATEGORY_POOL = (0, 1, 13, 20, 27, 28, 32, 45)
ATTRIBUTE_POOL = (0, 3, 7, 115, 200, 318)
SCORES = (0.05, 0.3, 0.5, 0.5, 0.7, 0.9, 1.0)
FILE_AREAS = (10.0, 500.0, 1024.0, 1024.5, 5000.0, 9216.0, 9217.0, 40000.0)


def _rle(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _box_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y0, x0 = int(rng.integers(0, h - 1)), int(rng.integers(0, w - 1))
    y1, x1 = int(rng.integers(y0 + 1, h + 1)), int(rng.integers(x0 + 1, w + 1))
    m = np.zeros((h, w), dtype=np.uint8)
    m[y0:y1, x0:x1] = 1
    if rng.random() < 0.3:  # ragged masks, not just boxes
        m &= (rng.random((h, w)) < 0.8).astype(np.uint8)
    return m


def _jitter(rng: np.random.Generator, m: np.ndarray) -> np.ndarray:
    shift = (0, 0) if rng.random() < 0.4 else (int(rng.integers(-2, 3)), int(rng.integers(-2, 3)))
    out = np.roll(m, shift, axis=(0, 1))
    if rng.random() < 0.3:
        out = out | (rng.random(m.shape) < 0.05).astype(np.uint8)
    return out


def _attrs(rng: np.random.Generator, pool: tuple[int, ...]) -> list[int]:
    k = int(rng.integers(0, 4))
    return [int(a) for a in rng.choice(pool, size=k, replace=True)]


def make_case(seed: int, *, n_images: int = 3, max_gt: int = 6, max_dt: int = 10,
              crowd_p: float = 0.15, boxes_in_results: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A (ground truth, results) pair; ``boxes_in_results`` gives every result a bbox (loadRes' bbox branch)."""
    rng = np.random.default_rng(seed)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    masks: dict[int, list[tuple[int, np.ndarray, list[int]]]] = {}
    ann_id = 1
    for i in range(n_images):
        h, w = int(rng.integers(6, 30)), int(rng.integers(6, 30))
        img_id = int(rng.integers(1, 10**6)) if rng.random() < 0.5 else 100 + i
        if any(im["id"] == img_id for im in images):
            img_id = 5000 + i
        images.append({"id": img_id, "height": h, "width": w, "file_name": f"{img_id}.jpg"})
        masks[img_id] = []
        for _ in range(int(rng.integers(0, max_gt + 1))):
            cat = int(rng.choice(CATEGORY_POOL))
            m = _box_mask(rng, h, w)
            ys, xs = np.nonzero(m)
            if len(ys) == 0:
                continue
            bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
            kind = rng.random()
            if kind < 0.4:  # polygon of the box
                x0, y0, bw, bh = bbox
                segm: Any = [[x0, y0, x0 + bw, y0, x0 + bw, y0 + bh, x0, y0 + bh]]
                m = np.zeros((h, w), dtype=np.uint8)  # the box itself (close to its rasterised polygon)
                m[int(y0):int(y0 + bh), int(x0):int(x0 + bw)] = 1
            elif kind < 0.6:  # uncompressed RLE
                segm = {"size": [h, w], "counts": _uncompressed(m)}
            else:
                segm = _rle(m)
            gt_attrs = _attrs(rng, ATTRIBUTE_POOL)
            anns.append({
                "id": ann_id, "image_id": img_id, "category_id": cat, "segmentation": segm, "bbox": bbox,
                "area": float(rng.choice(FILE_AREAS)) if rng.random() < 0.6 else float(m.sum()),
                "iscrowd": int(rng.random() < crowd_p), "attribute_ids": gt_attrs,
            })
            masks[img_id].append((cat, m, gt_attrs))
            ann_id += 1
        for _ in range(int(rng.integers(0, max_dt + 1))):
            attrs = _attrs(rng, ATTRIBUTE_POOL)
            if masks[img_id] and rng.random() < 0.7:
                cat, base, gt_attrs = masks[img_id][int(rng.integers(0, len(masks[img_id])))]
                if rng.random() < 0.2:
                    cat = int(rng.choice(CATEGORY_POOL))
                m = _jitter(rng, base)
                if rng.random() < 0.6:  # the right attributes, give or take one: F1 across its range
                    attrs = list(gt_attrs)
                    if attrs and rng.random() < 0.5:
                        attrs.pop(int(rng.integers(0, len(attrs))))
                    if rng.random() < 0.4:
                        attrs.append(int(rng.choice(ATTRIBUTE_POOL)))
            else:
                cat, m = int(rng.choice(CATEGORY_POOL)), _box_mask(rng, h, w)
            res: dict[str, Any] = {"image_id": img_id, "category_id": cat, "score": float(rng.choice(SCORES)),
                                   "segmentation": _rle(m)}
            if rng.random() < 0.9:
                res["attribute_ids"] = attrs
            if boxes_in_results:
                x, y, bw, bh = (float(v) for v in mask_utils.toBbox(res["segmentation"]))
                scale = float(rng.choice([1.0, 1.0, 5.0]))  # large boxes reach the medium/large ranges
                res["bbox"] = [x, y, bw * scale, bh * scale]
            results.append(res)
    rng.shuffle(results)  # interleave images, as a real results file may
    gt = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": c, "name": f"c{c}", "supercategory": "x"} for c in range(46)],
        "attributes": [{"id": a, "name": f"a{a}"} for a in ATTRIBUTE_POOL],
    }
    # Detections need attribute_ids where the official code computes F1 (attribute-checked category
    # with ground truth in that image); keep the missing ones only elsewhere.
    checked = {0, 1, 28, 32}
    gt_cats = {(a["image_id"], a["category_id"]) for a in anns}
    for r in results:
        if "attribute_ids" not in r and r["category_id"] in checked and (r["image_id"], r["category_id"]) in gt_cats:
            r["attribute_ids"] = []
    return gt, results


def _uncompressed(m: np.ndarray) -> list[int]:
    flat = m.flatten(order="F")
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return [int(c) for c in counts]
