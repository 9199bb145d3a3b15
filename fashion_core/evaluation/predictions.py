"""Raw detections of one inference pass, before any threshold: the input of the threshold sweep.

One row per detection: image id, category id, class score, mask (compressed COCO RLE) and/or box,
and the (D, A) attribute probabilities in the model's contiguous attribute order. ``to_results``
applies a class-score and an attribute threshold and gives the Fashionpedia results list (the format
the evaluator, the CLI and a Kaggle submission writer take).

Thresholds are strict, as in the model: a detection is kept when ``score > score_threshold``
(detectron2's ``SCORE_THRESH_TEST``), an attribute is predicted when ``probability > attribute_threshold``
(``MODEL.ROI_ATTRIBUTE_HEAD.SCORE_THRESH``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RawDetections:
    """D detections; ``attribute_scores`` (D, A) float, column j is attribute id ``attribute_ids[j]``.

    ``segmentations`` (D compressed RLE dicts, ``counts`` as str) and ``boxes`` ((D, 4) float XYWH) may
    each be None, not both. When boxes are present the results carry them, and the official ``loadRes``
    then takes every result's area from its box, also for mask evaluation (QUIRKS.md 1).
    """

    image_ids: Sequence[Any]
    category_ids: np.ndarray
    scores: np.ndarray
    attribute_scores: np.ndarray
    attribute_ids: np.ndarray
    segmentations: Sequence[dict[str, Any]] | None = None
    boxes: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.segmentations is None and self.boxes is None:
            raise ValueError("RawDetections needs segmentations or boxes (or both), got neither.")
        sizes = {
            "image_ids": len(self.image_ids),
            "category_ids": len(self.category_ids),
            "attribute_scores": len(self.attribute_scores),
            "segmentations": n if self.segmentations is None else len(self.segmentations),
            "boxes": n if self.boxes is None else len(self.boxes),
        }
        bad = {k: v for k, v in sizes.items() if v != n}
        if bad:
            raise ValueError(f"RawDetections fields must all have {n} rows (len(scores)) but got {bad}.")
        if np.ndim(self.attribute_scores) != 2 or np.shape(self.attribute_scores)[1] != len(self.attribute_ids):
            raise ValueError(
                f"attribute_scores must be (D, A={len(self.attribute_ids)}) but got {np.shape(self.attribute_scores)}."
            )

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def concatenate(cls, parts: Sequence[RawDetections]) -> RawDetections:
        """One RawDetections from several (e.g. one per image); all share attribute_ids and fields."""
        if not parts:
            raise ValueError("concatenate needs at least one RawDetections.")
        first = parts[0]
        return cls(
            image_ids=[i for p in parts for i in p.image_ids],
            category_ids=np.concatenate([p.category_ids for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            attribute_scores=np.concatenate([p.attribute_scores for p in parts]),
            attribute_ids=first.attribute_ids,
            segmentations=None if first.segmentations is None else [s for p in parts for s in p.segmentations or []],
            boxes=None if first.boxes is None else np.concatenate([p.boxes for p in parts if p.boxes is not None]),
        )

    def to_results(
        self,
        score_threshold: float = -math.inf,
        attribute_threshold: float | Mapping[int, float] | None = 0.5,
        *,
        with_probabilities: bool = False,
    ) -> list[dict[str, Any]]:
        """Fashionpedia results: detections with score > ``score_threshold``, in their order.

        Each result: image_id, category_id, score, segmentation and/or bbox, ``attribute_ids`` (ids with
        probability > the attribute threshold, in column order) and, with ``with_probabilities``,
        ``attribute_scores`` (the A probabilities, column order). ``attribute_threshold`` is one value,
        a ``{category_id: threshold}`` map (categories not in it use 0.5), or None for no ``attribute_ids``.
        """
        keep = np.flatnonzero(np.asarray(self.scores) > score_threshold)
        ids = np.asarray(self.attribute_ids)
        predicted: np.ndarray | None = None
        if isinstance(attribute_threshold, Mapping):
            cats = np.asarray(self.category_ids)[keep]
            thr = np.array([attribute_threshold.get(int(c), 0.5) for c in cats], dtype=np.float64)
            predicted = np.asarray(self.attribute_scores)[keep] > thr[:, None]
        elif attribute_threshold is not None:
            predicted = np.asarray(self.attribute_scores)[keep] > attribute_threshold
        out: list[dict[str, Any]] = []
        for row, i in enumerate(keep.tolist()):
            res: dict[str, Any] = {
                "image_id": plain(self.image_ids[i]),
                "category_id": int(self.category_ids[i]),
                "score": float(self.scores[i]),
            }
            if self.segmentations is not None:
                res["segmentation"] = self.segmentations[i]
            if self.boxes is not None:
                res["bbox"] = [float(v) for v in self.boxes[i]]
            if predicted is not None:
                res["attribute_ids"] = [int(a) for a in ids[predicted[row]]]
            if with_probabilities:
                res["attribute_scores"] = [float(p) for p in self.attribute_scores[i]]
            out.append(res)
        return out


def plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (JSON-serialisable ids)."""
    return value.item() if isinstance(value, np.generic) else value
