"""detectron2 adapter: collect predictions per image, evaluate them with :func:`evaluate_fashionpedia`.

Returns ``{"segm": {"AP_iou_f1": ...}, "bbox": {...}}`` (plus ``"thresholds"`` when a sweep grid is
given: the best class-score / attribute thresholds found post hoc on the same predictions).
This module imports detectron2; the rest of :mod:`fashion_core.evaluation` does not.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils
from detectron2.evaluation import DatasetEvaluator
from detectron2.structures import BoxMode
from detectron2.utils import comm

from fashion_core.data import dataset_dicts_to_gt

from .api import evaluate_fashionpedia
from .config_thresholds import config_thresholds
from .inputs import IOU_TYPES
from .predictions import RawDetections
from .reported import SWEEP_METRICS
from .thresholds import sweep_thresholds

logger = logging.getLogger(__name__)


# Key of the evaluation results under which a sweep's whole table travels (a ThresholdTable, not a number: the
# report hook takes it out and saves it beside the checkpoint as thresholds.json, fashion_core/bundle_format.py).
SWEEP_KEY = "threshold_sweep"


class FashionpediaEvaluator(DatasetEvaluator):
    """Official Fashionpedia AP^{IoU+F1} of a model's ``instances`` on one dataset.

    Args:
        gt: Fashionpedia ground-truth dict of exactly the evaluated images
            (see :func:`dataset_dicts_to_gt`).
        attribute_index_to_id: (A,) raw attribute id of each ``attr_scores`` column.
        class_index_to_id: raw category id of each ``pred_classes`` index (default: identity).
        attribute_threshold: attribute predicted when its probability > this.
        class_attribute_thresholds: optional {raw category id: attribute threshold} that replaces
            ``attribute_threshold`` for the categories it lists.
        score_threshold: detections with a class score <= this are left out (the model's own
            ``SCORE_THRESH_TEST``; a sweep's inference runs lower, see ``TEST.THRESHOLD_SWEEP``).
        sweep: optional (score thresholds, attribute thresholds) grid for a post-hoc threshold search.
        iou_types: evaluations to run.
    """

    def __init__(
        self,
        gt: Mapping[str, Any],
        attribute_index_to_id: Sequence[int] | np.ndarray,
        *,
        class_index_to_id: Sequence[int] | None = None,
        attribute_threshold: float = 0.5,
        class_attribute_thresholds: Mapping[int, float] | None = None,
        score_threshold: float = -math.inf,
        sweep: tuple[Sequence[float], Sequence[float]] | None = None,
        iou_types: Sequence[str] = IOU_TYPES,
    ) -> None:
        self._gt = gt
        self._attribute_ids = np.asarray(attribute_index_to_id, dtype=np.int64)
        self._class_ids = None if class_index_to_id is None else np.asarray(class_index_to_id, dtype=np.int64)
        self._attribute_threshold = attribute_threshold
        self._class_attribute_thresholds = dict(class_attribute_thresholds or {})
        self._score_threshold = score_threshold
        self._sweep = sweep
        self._iou_types = tuple(iou_types)
        self._parts: list[RawDetections] = []

    @classmethod
    def from_config(cls, cfg: Any, dataset_name: str) -> FashionpediaEvaluator:
        """Ground truth from the registered dataset's dicts (so exactly its split) and the class and attribute
        ids its registration recorded in ``MetadataCatalog`` (``class_ids``, ``attribute_ids``: the raw id of
        each class index and of each attribute column); thresholds and the sweep grid from the config
        (``ROI_HEADS.SCORE_THRESH_TEST``, ``ROI_ATTRIBUTE_HEAD.SCORE_THRESH`` / ``CLASS_SCORE_THRESH``,
        ``TEST.THRESHOLD_SWEEP``)."""
        from detectron2.data import DatasetCatalog, MetadataCatalog

        metadata = MetadataCatalog.get(dataset_name)
        if metadata.get("class_ids", None) is None or metadata.get("attribute_ids", None) is None:
            raise LookupError(
                f"MetadataCatalog[{dataset_name!r}] has no class_ids/attribute_ids: register the dataset with "
                "fashion_core.data.register_fashion_datasets (or set both lists of raw ids)"
            )
        class_ids = [int(c) for c in metadata.class_ids]
        attribute_ids = [int(a) for a in metadata.attribute_ids]
        gt = dataset_dicts_to_gt(
            DatasetCatalog.get(dataset_name), class_index_to_id=class_ids, attribute_ids=attribute_ids
        )
        applied = config_thresholds(cfg)
        grid = cfg.TEST.THRESHOLD_SWEEP
        return cls(
            gt,
            attribute_ids,
            class_index_to_id=class_ids,
            attribute_threshold=applied.attribute,
            class_attribute_thresholds=applied.by_category(class_ids),
            score_threshold=applied.score,
            sweep=(tuple(grid.SCORE_GRID), tuple(grid.ATTRIBUTE_GRID)) if grid.SCORE_GRID else None,
        )

    def reset(self) -> None:
        self._parts = []

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]) -> None:
        for inp, out in zip(inputs, outputs):
            raw = instances_to_raw(inp["image_id"], out["instances"].to("cpu"), self._attribute_ids, self._class_ids)
            if len(raw):
                self._parts.append(raw)

    def evaluate(self) -> dict[str, Any]:
        """``{iou_type: {metric: value}}``; with a sweep also ``"thresholds"`` (its best cells, numbers)
        and, when anything was detected, ``SWEEP_KEY``: the whole sweep as a
        :class:`fashion_core.bundle_format.ThresholdTable` (what ``thresholds.json`` holds)."""
        parts = self._parts
        if comm.get_world_size() > 1:
            comm.synchronize()
            parts = [p for chunk in comm.gather(parts, dst=0) for p in chunk]
            if not comm.is_main_process():
                return {}
        raw = RawDetections.concatenate(parts) if parts else None
        # Scoring can take a while on a full validation set (after inference's own progress lines): say so.
        logger.info(
            "Fashionpedia evaluation: scoring %d detections on %d images (%s)%s", 0 if raw is None else len(raw),
            len(self._gt.get("images", [])), ", ".join(self._iou_types),
            "" if self._sweep is None else f" and a {len(self._sweep[0])}x{len(self._sweep[1])} threshold sweep",
        )
        out: dict[str, Any] = {}
        if raw is not None:
            attribute: float | dict[int, float] = self._attribute_threshold
            if self._class_attribute_thresholds:
                # Every category of the ground truth gets a value, so to_results' own default never applies.
                attribute = {int(c["id"]): self._attribute_threshold for c in self._gt.get("categories", [])}
                attribute.update(self._class_attribute_thresholds)
            results = raw.to_results(score_threshold=self._score_threshold, attribute_threshold=attribute)
        else:
            results = []
        for t in self._iou_types:
            out[t] = evaluate_fashionpedia(self._gt, results, t)
        if self._sweep is not None:
            if raw is not None:
                found = sweep_thresholds(self._gt, raw, self._iou_types[0], *self._sweep)
                score, attr, value = found.best
                per_class, per_class_score = found.per_class_value, found.per_class_score_threshold
            else:
                # No detection at all (an untrained model): every cell equals the plain evaluation.
                # Still report the keys, so a search that ranks by them sees every trial.
                found = None
                score, attr = float(self._sweep[0][0]), float(self._sweep[1][0])
                value = per_class = out[self._iou_types[0]]["AP_iou_f1"]
                per_class_score = score
            out["thresholds"] = dict(zip(SWEEP_METRICS, (score, attr, value, per_class_score, per_class)))
            if found is not None:
                # With the raw category id of every contiguous class index (for the config's CLASS_SCORE_THRESH,
                # which is indexed by class index).
                n_classes = max(len(self._gt.get("categories", [])), 1)
                class_ids = self._class_ids.tolist() if self._class_ids is not None else list(range(n_classes))
                out[SWEEP_KEY] = found.to_table(class_ids)
        logger.info(
            "Fashionpedia evaluation: %s",
            {t: round(m["AP_iou_f1"], 4) for t, m in out.items() if isinstance(m, dict) and "AP_iou_f1" in m},
        )
        return out


def instances_to_raw(
    image_id: Any, instances: Any, attribute_ids: np.ndarray, class_ids: np.ndarray | None = None
) -> RawDetections:
    """One image's detectron2 ``Instances`` (on CPU) -> :class:`RawDetections`.

    Reads ``scores`` (N,), ``pred_classes`` (N,), ``pred_boxes`` (N, 4) XYXY, ``pred_masks`` (N, H, W)
    and ``attr_scores`` (N, A) when present (absent: no attribute is ever predicted).
    """
    n = len(instances)
    classes = instances.pred_classes.numpy().astype(np.int64)
    boxes = (
        BoxMode.convert(instances.pred_boxes.tensor.numpy().astype(np.float64), BoxMode.XYXY_ABS, BoxMode.XYWH_ABS)
        if instances.has("pred_boxes")
        else None
    )
    segms = None
    if instances.has("pred_masks"):
        masks = np.asfortranarray(instances.pred_masks.numpy().astype(np.uint8).transpose(1, 2, 0))
        segms = mask_utils.encode(masks) if n else []
        for rle in segms:
            rle["counts"] = rle["counts"].decode("ascii")
    attr = instances.attr_scores.numpy() if instances.has("attr_scores") else np.zeros((n, len(attribute_ids)))
    return RawDetections(
        image_ids=[image_id] * n,
        category_ids=classes if class_ids is None else class_ids[classes],
        scores=instances.scores.numpy().astype(np.float64),
        attribute_scores=attr,
        attribute_ids=attribute_ids,
        segmentations=segms,
        boxes=boxes,
    )

