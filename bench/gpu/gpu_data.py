"""Synthetic data of the GPU benchmark (parent process; no torch): rendering, and registration in detectron2."""

from __future__ import annotations

import functools
import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

from gpu_settings import TRAIN_NAME, VAL_NAME, Settings


def _render(task: tuple[int, int, int, int, str]) -> dict[str, Any]:
    """One synthetic image: render, stretch to (H, W), write the JPEG; its detectron2 dataset dict (JSON-able).

    task: (image index, height H, width W, seed, image folder). Objects' masks become COCO RLE at (H, W).
    """
    import cv2
    import numpy as np
    import pycocotools.mask as mask_util

    from fashion_core.data.synth import DEFAULT_CLASSES, render_image

    index, height, width, seed, image_dir = task
    taxonomy, attr = _taxonomy_and_attributes()
    image, objects = render_image(
        np.random.default_rng([seed, index]), min(height, width), DEFAULT_CLASSES, taxonomy, attr
    )
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    path = Path(image_dir) / f"{index:05d}.jpg"
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise RuntimeError(f"OpenCV could not write {path}")
    annotations = []
    for obj in objects:
        mask = cv2.resize(obj.mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        rle = mask_util.encode(np.asfortranarray(mask))
        area = float(mask_util.area(rle))
        if area == 0:
            continue
        rle["counts"] = rle["counts"].decode("ascii")
        annotations.append(
            {
                "bbox": [float(v) for v in mask_util.toBbox(rle)],
                "bbox_mode": 1,  # BoxMode.XYWH_ABS, as the project's readers give
                "category_id": taxonomy.class_ids.index(obj.class_id),
                "segmentation": rle,
                "attribute_ids": list(obj.attribute_ids),
                "iscrowd": 0,
                "area": area,
            }
        )
    return {"file_name": str(path), "image_id": index, "height": height, "width": width, "annotations": annotations}


@functools.cache
def _taxonomy_and_attributes() -> tuple[Any, dict[str, int]]:
    """The packaged taxonomy and the raw ids of the attributes ``render_image`` draws (as write_synthetic_dataset)."""
    from fashion_core.data import load_taxonomy
    from fashion_core.data.synth import PATTERN_ATTRIBUTE, TALL_ATTRIBUTE, WIDE_ATTRIBUTE

    taxonomy = load_taxonomy()
    names = (*PATTERN_ATTRIBUTE.values(), TALL_ATTRIBUTE, WIDE_ATTRIBUTE)
    attr = {name: taxonomy.attribute_ids[taxonomy.attribute_names.index(name)] for name in names}
    return taxonomy, attr


def make_dataset(
    root: Path, *, train: int, val: int, long_side: int, short_side: int, seed: int, processes: int
) -> dict[str, Any]:
    """Write train/val images under ``root`` and their dicts to ``root/{train,val}.json``; a summary.

    Even images are portrait (H = long side), odd ones landscape, so detectron2's aspect-ratio grouping
    forms batches of both, as with real photos.
    """
    start = time.perf_counter()
    summary: dict[str, Any] = {"image_size": f"{short_side}x{long_side} (half portrait, half landscape)"}
    for split, count, offset in (("train", train, 0), ("val", val, 1_000_000)):
        image_dir = root / split
        image_dir.mkdir(parents=True, exist_ok=True)
        tasks = [
            (offset + i, *((long_side, short_side) if i % 2 == 0 else (short_side, long_side)), seed, str(image_dir))
            for i in range(count)
        ]
        if processes > 1:
            with multiprocessing.get_context("fork").Pool(processes) as pool:
                dicts = pool.map(_render, tasks)
        else:
            dicts = [_render(t) for t in tasks]
        (root / f"{split}.json").write_text(json.dumps(dicts))
        objects = sum(len(d["annotations"]) for d in dicts)
        summary[split] = {"images": count, "objects": objects, "objects_per_image": round(objects / count, 2)}
    summary["seconds"] = round(time.perf_counter() - start, 2)
    return summary


# --------------------------------------------------------------------------------------------------------------
# Worker side (imports torch and detectron2)
# --------------------------------------------------------------------------------------------------------------


def _load_dicts(path: str) -> list[dict[str, Any]]:
    from detectron2.structures import BoxMode

    dicts: list[dict[str, Any]] = json.loads(Path(path).read_text())
    for d in dicts:
        for a in d["annotations"]:
            a["bbox_mode"] = BoxMode(a["bbox_mode"])
    return dicts


def register_datasets(settings: Settings) -> None:
    """Register the synthetic train/val dicts with the metadata ``register_fashion_datasets`` sets."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from fashion_core.data import load_taxonomy

    taxonomy = load_taxonomy()
    for name, path in ((TRAIN_NAME, settings.train_json), (VAL_NAME, settings.val_json)):
        DatasetCatalog.register(name, functools.partial(_load_dicts, path))
        MetadataCatalog.get(name).set(
            thing_classes=list(taxonomy.class_names),
            attribute_names=list(taxonomy.attribute_names),
            class_ids=list(taxonomy.class_ids),
            attribute_ids=list(taxonomy.attribute_ids),
            evaluator_type="fashionpedia",
        )
