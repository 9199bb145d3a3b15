"""Write Kaggle iMaterialist (Fashion) 2020 submissions: one row per instance, masks made non-overlapping.

Kaggle scored masks that must not overlap within an image. Instances are visited by descending score;
each keeps only pixels no higher-scored instance took, and an instance left with no pixel is dropped.

Images listed in ``image_ids`` that end up with no instance still get one row, as Kaggle expects every test
image in the file: a one-pixel placeholder ``EncodedPixels="1 1"`` of class ``placeholder_class`` (23,
"shoe", as in the competition's sample submission) with no attributes; it costs at most one false positive.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pycocotools.mask as mask_util

from fashion_core.data._errors import DataError
from fashion_core.data._rle import CocoRle, mask_to_kaggle

SUBMISSION_COLUMNS = ("ImageId", "EncodedPixels", "ClassId", "AttributesIds")
PLACEHOLDER_CLASS = 23


@dataclass(frozen=True)
class InstancePrediction:
    """One predicted instance: a COCO RLE mask of its image, raw class id, score and raw attribute ids."""

    image_id: str
    rle: CocoRle
    category_id: int
    score: float
    attribute_ids: tuple[int, ...] = ()

    @classmethod
    def from_result(cls, result: Mapping[str, Any], image_name: str | None = None) -> InstancePrediction:
        """From a Fashionpedia results entry (``image_id``, ``category_id``, ``segmentation``, ``score``,
        ``attribute_ids``); ``image_name`` replaces the numeric image id (Kaggle ImageIds are file stems)."""
        return cls(
            image_id=image_name if image_name is not None else str(result["image_id"]),
            rle=dict(result["segmentation"]),
            category_id=int(result["category_id"]),
            score=float(result["score"]),
            attribute_ids=tuple(int(a) for a in result.get("attribute_ids", ())),
        )


def submission_rows(
    predictions: Iterable[InstancePrediction],
    image_ids: Iterable[str] | None = None,
    *,
    placeholder_class: int = PLACEHOLDER_CLASS,
) -> list[dict[str, str]]:
    """Rows with the four submission columns; images in input order, instances by descending score."""
    per_image: dict[str, list[InstancePrediction]] = {}
    for pred in predictions:
        per_image.setdefault(pred.image_id, []).append(pred)
    rows: list[dict[str, str]] = []
    for image_id, preds in per_image.items():
        rows.extend(image_submission_rows(image_id, preds))
    return _with_placeholders(rows, image_ids, placeholder_class)


def write_kaggle_submission(
    predictions: Iterable[InstancePrediction | Mapping[str, Any]],
    path: str | Path,
    image_ids: Iterable[str] | None = None,
    *,
    placeholder_class: int = PLACEHOLDER_CLASS,
) -> int:
    """Write the submission CSV; predictions are InstancePrediction or Fashionpedia results dicts.

    Returns the number of rows written (header excluded).
    """
    preds = [p if isinstance(p, InstancePrediction) else InstancePrediction.from_result(p) for p in predictions]
    return write_submission_rows(submission_rows(preds), path, image_ids, placeholder_class=placeholder_class)


def write_submission_rows(
    rows: Iterable[Mapping[str, str]],
    path: str | Path,
    image_ids: Iterable[str] | None = None,
    *,
    placeholder_class: int = PLACEHOLDER_CLASS,
) -> int:
    """Write rows made by :func:`image_submission_rows` (image by image, e.g. in parallel) as the CSV,
    with the placeholder row of every image in ``image_ids`` that has none. Returns the rows written."""
    # Read only (DictWriter), so the rows are not copied into dicts: a cast, not a conversion.
    rows = _with_placeholders(cast(list[dict[str, str]], list(rows)), image_ids, placeholder_class)
    with Path(path).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SUBMISSION_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def _with_placeholders(
    rows: list[dict[str, str]], image_ids: Iterable[str] | None, placeholder_class: int
) -> list[dict[str, str]]:
    if image_ids is None:
        return rows
    with_rows = {r["ImageId"] for r in rows}
    return rows + [
        {"ImageId": i, "EncodedPixels": "1 1", "ClassId": str(placeholder_class), "AttributesIds": ""}
        for i in dict.fromkeys(image_ids)
        if i not in with_rows
    ]


def image_submission_rows(image_id: str, preds: Sequence[InstancePrediction]) -> list[dict[str, str]]:
    """The submission rows of one image's instances (all of the same mask size): by descending score,
    each keeps the pixels no higher-scored instance took; one left without pixels gets no row."""
    if not preds:
        return []
    size = [int(v) for v in preds[0].rle["size"]]
    for pred in preds:
        if [int(v) for v in pred.rle["size"]] != size:
            raise DataError(
                "<predictions>",
                f"image {image_id!r}",
                "segmentation",
                f"mask size {pred.rle['size']} differs from {size} of another mask of the same image",
            )
    occupied = np.zeros(size, dtype=bool)
    rows = []
    # Stable sort: equal scores keep their input order, so the output is deterministic.
    for pred in sorted(preds, key=lambda p: -p.score):
        visible = _decode(pred.rle) & ~occupied
        if not visible.any():
            continue
        occupied |= visible
        rows.append(
            {
                "ImageId": image_id,
                "EncodedPixels": mask_to_kaggle(visible),
                "ClassId": str(pred.category_id),
                "AttributesIds": ",".join(str(a) for a in sorted(set(pred.attribute_ids))),
            }
        )
    return rows


def _decode(rle: CocoRle) -> np.ndarray:
    if isinstance(rle["counts"], list):
        rle = mask_util.frPyObjects(rle, *rle["size"])
    return np.asarray(mask_util.decode(rle), dtype=bool)
