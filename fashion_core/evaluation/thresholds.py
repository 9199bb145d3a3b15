"""Post-hoc threshold search: one inference pass, a grid of class-score x attribute thresholds.

Every cell of the table equals :func:`.api.evaluate_fashionpedia` on
``detections.to_results(score_threshold, attribute_threshold)`` (to 1e-12), without re-running the
model and without redoing what does not change:

* IoUs do not depend on either threshold: computed once.
* A score threshold only removes the lowest-scored tail of every (image, category) group, and the
  greedy matching walks detections in score order, so the matches of the kept detections do not
  change. Per attribute threshold (which changes the F1s) the matching runs once; each score threshold
  then only cuts every precision row to the true positives ranked above it.
* The summary metric is a mean over categories, each category depending on its own detections only,
  so per-category attribute thresholds are chosen category by category from the same table.

Only metrics of the "all areas, 100 detections" AP family are supported (what a search optimises):
``AP``, ``AP50``, ``AP75``, ``AP_F150``, ``AP_F175``, ``AP50_F150`` ..., ``APo``/``APa``/``APp``,
with a group suffix ``_iou_f1``, ``_iou`` or ``_f1`` (default ``AP_iou_f1``, the challenge metric).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fashion_core.bundle_format import ThresholdTable

from ._pipeline import Prepared, area_units, detection_f1, f1_groups, f1_pairs, prepare_loaded
from .accumulate import N_R, match_true_positives, recall_index, row_category, row_context, row_id, row_precision
from .errors import EvaluationInputError
from .f1 import pack_columns
from .groups import Groups
from .inputs import RES, Detections, GroundTruth, detections_from_columns, load_ground_truth
from .matching import match
from .params import AREA_LABELS, MAX_DETS
from .predictions import RawDetections, plain
from .summarize import GROUPS, KeySpec, key_specs, selection

DEFAULT_SCORE_THRESHOLDS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
DEFAULT_ATTRIBUTE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class ThresholdSweep:
    """The sweep's table and its best settings.

    ``table`` (S, U): the metric for score_thresholds[i] x attribute_thresholds[j].
    ``per_class_table`` (S,): the metric when every category takes its own best attribute threshold;
    ``per_class_thresholds`` {category id: attribute threshold} at ``per_class_score_threshold``
    (only categories whose attribute F1 is checked and that have ground truth).
    ``per_class_rows`` (S,) of such maps: the per-category choice at every score threshold.
    ``metric`` is a summary key (``AP_iou_f1``) of the ``iou_type`` ("segm" or "bbox") evaluation.
    """

    metric: str
    score_thresholds: np.ndarray
    attribute_thresholds: np.ndarray
    table: np.ndarray
    per_class_table: np.ndarray
    per_class_thresholds: dict[Any, float] = field(default_factory=dict)
    per_class_rows: tuple[dict[Any, float], ...] = ()
    iou_type: str = "segm"

    @property
    def best(self) -> tuple[float, float, float]:
        """(score threshold, attribute threshold, metric) of the best cell; the first one on ties."""
        i, j = np.unravel_index(int(np.argmax(self.table)), self.table.shape)
        return float(self.score_thresholds[i]), float(self.attribute_thresholds[j]), float(self.table[i, j])

    @property
    def per_class_score_threshold(self) -> float:
        return float(self.score_thresholds[int(np.argmax(self.per_class_table))])

    @property
    def per_class_value(self) -> float:
        return float(np.max(self.per_class_table))

    def to_table(self, class_ids: Sequence[int] = ()) -> ThresholdTable:
        """The sweep as ``thresholds.json`` records it (:class:`fashion_core.bundle_format.ThresholdTable`);
        ``class_ids``: the raw category id of each contiguous class index."""

        def per_class(row: Mapping[Any, float]) -> dict[int, float]:
            return {int(plain(k)): float(v) for k, v in row.items()}

        return ThresholdTable(
            metric=self.metric,
            score_thresholds=tuple(float(v) for v in self.score_thresholds),
            attribute_thresholds=tuple(float(v) for v in self.attribute_thresholds),
            table=tuple(tuple(float(v) for v in row) for row in self.table),
            best=self.best,
            per_class_table=tuple(float(v) for v in self.per_class_table),
            per_class_score_threshold=self.per_class_score_threshold,
            per_class_value=self.per_class_value,
            per_class_thresholds=per_class(self.per_class_thresholds),
            per_class_rows=tuple(per_class(row) for row in self.per_class_rows),
            class_ids=tuple(int(c) for c in class_ids),
            iou_type=self.iou_type,
        )

    def records(self) -> list[dict[str, float]]:
        """The full table as rows ``{"score_threshold", "attribute_threshold", <metric>}``."""
        return [
            {"score_threshold": float(s), "attribute_threshold": float(a), self.metric: float(self.table[i, j])}
            for i, s in enumerate(self.score_thresholds)
            for j, a in enumerate(self.attribute_thresholds)
        ]


def parse_metric(metric: str) -> tuple[KeySpec, bool, bool]:
    """``"AP50_iou_f1"`` -> (spec, use_f1, use_iou); ValueError naming the supported keys otherwise."""
    supported: dict[str, tuple[KeySpec, bool, bool]] = {}
    for group, (use_f1, use_iou) in GROUPS.items():
        for spec in key_specs(use_f1, use_iou):
            if spec.kind == "ap" and spec.area == AREA_LABELS[0] and spec.max_dets == MAX_DETS[-1]:
                supported[f"{spec.name}_{group}"] = (spec, use_f1, use_iou)
    if metric not in supported:
        raise ValueError(f"metric must be one of {sorted(supported)} but got {metric!r}.")
    return supported[metric]


def sweep_thresholds(
    gt: Mapping[str, Any],
    detections: RawDetections,
    iou_type: str = "segm",
    score_thresholds: Sequence[float] = DEFAULT_SCORE_THRESHOLDS,
    attribute_thresholds: Sequence[float] = DEFAULT_ATTRIBUTE_THRESHOLDS,
    metric: str = "AP_iou_f1",
) -> ThresholdSweep:
    """Evaluate every (score threshold, attribute threshold) pair of one inference pass.

    Args:
        gt: Fashionpedia ground-truth dict.
        detections: the raw detections (all of them, no threshold applied).
        iou_type: "segm" or "bbox".
        score_thresholds: S class-score thresholds (keep score > t).
        attribute_thresholds: U attribute thresholds (predict probability > t).
        metric: the summary key to tabulate (see module docstring).
    """
    spec, use_f1, use_iou = parse_metric(metric)
    s_grid = np.asarray(score_thresholds, dtype=np.float64)
    u_grid = np.asarray(attribute_thresholds, dtype=np.float64)
    gt_view = load_ground_truth(gt, iou_type)
    prep = prepare_loaded(gt_view, load_raw_detections(detections, gt_view))
    groups = prep.groups
    n_cat = gt_view.num_categories

    # Everything below the loop is threshold-independent and computed once.
    units, unit_areas = area_units(prep, [0])
    ctx = row_context(gt_view, groups, (0,), (len(MAX_DETS) - 1,))
    num_gt = ctx.num_gt[:, 0]
    t_idx, pairs = selection(spec, use_f1, use_iou, n_cat)
    sel = [(c, f, t) for c, f in pairs for t in t_idx if num_gt[c] > 0]
    f_lanes = np.array(sorted({f for c, f, _ in sel if prep.checks_f1[c]}), dtype=np.int64)
    with_coco = any(not prep.checks_f1[c] for c, _, _ in sel)
    if not sel:
        return ThresholdSweep(
            metric,
            s_grid,
            u_grid,
            np.full((len(s_grid), len(u_grid)), -1.0),
            np.full(len(s_grid), -1.0),
            iou_type=iou_type,
        )
    cat = np.array([c for c, _, _ in sel])
    zeros = np.zeros_like(cat)
    rid = row_id(cat, zeros, zeros, np.array([t for *_, t in sel]), np.array([f for _, f, _ in sel]), n_cat, 1)
    recall_idx = recall_index(num_gt[cat])
    total = len(sel) * N_R
    limits = _category_limits(groups, n_cat, s_grid)  # (S, K)
    probs, rows, columns = _attribute_inputs(prep, detections)
    pairs_f1 = f1_pairs(prep)

    table = np.zeros((len(s_grid), len(u_grid)))
    cat_sums = np.zeros((len(s_grid), len(u_grid), n_cat))
    for j, tau in enumerate(u_grid):
        bits = _threshold_bits(probs, columns, tau, len(gt_view.attribute_columns))
        f1 = detection_f1(prep, pairs_f1, bits, rows)
        matches = match(groups, units, f1, t_idx, f_lanes, with_coco=with_coco)
        tps = match_true_positives(gt_view, groups, matches, unit_areas, prep.scored, ctx)
        tp_cat = row_category(tps.row, n_cat, 1)
        for i in range(len(s_grid)):
            above = tps.pos < limits[i, tp_cat]
            count = np.bincount(tps.row[above], minlength=len(tps.row_count))[rid]
            sums = row_precision(tps, rid, recall_idx, count).sum(axis=1)
            cat_sums[i, j] = np.bincount(cat, sums, minlength=n_cat)
            table[i, j] = sums.sum() / total
    best_u = np.argmax(cat_sums, axis=1)  # (S, K): first best attribute threshold per category
    per_class = np.take_along_axis(cat_sums, best_u[:, None, :], axis=1)[:, 0, :].sum(axis=1) / total
    i_best = int(np.argmax(per_class))
    judged = [c for c in range(n_cat) if prep.checks_f1[c] and num_gt[c] > 0]
    per_row = tuple({gt_view.category_ids[c]: float(u_grid[best_u[i, c]]) for c in judged} for i in range(len(s_grid)))
    return ThresholdSweep(metric, s_grid, u_grid, table, per_class, per_row[i_best], per_row, iou_type=iou_type)


def load_raw_detections(detections: RawDetections, gt: GroundTruth) -> Detections:
    """The official view of ``detections.to_results()`` (no threshold), built from the arrays directly.

    Same rules as :func:`.inputs.load_results` (boxes present: the box branch of ``loadRes``).
    """
    img_index = {img_id: i for i, img_id in enumerate(gt.image_ids)}
    cat_index = {cat_id: k for k, cat_id in enumerate(gt.category_ids)}
    img = np.array([img_index.get(plain(i), -1) for i in detections.image_ids], dtype=np.int64)
    if (img < 0).any():
        j = int(np.flatnonzero(img < 0)[0])
        raise EvaluationInputError(
            RES, f"detection {j}", f"image_id {detections.image_ids[j]!r} is not an image of the ground truth"
        )
    cat = np.array([cat_index.get(int(c), -1) for c in detections.category_ids], dtype=np.int64)
    scores = np.asarray(detections.scores, dtype=np.float64)[cat >= 0]
    boxes = None if detections.boxes is None else np.asarray(detections.boxes, dtype=np.float64).reshape(-1, 4)
    return detections_from_columns(gt, img, cat, scores, detections.segmentations, boxes)


def _attribute_inputs(prep: Prepared, detections: RawDetections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities of the detections whose F1 is needed, their (Dk,) row map, and the gt column of
    each model attribute column (-1 when the ground truth does not list that attribute)."""
    groups = prep.groups
    need = np.isin(groups.det_group, f1_groups(prep))
    rows = np.full(len(groups.det_group), -1, dtype=np.int64)
    rows[need] = np.arange(int(need.sum()))
    # The detections were loaded without a score cut, so result index = detection row.
    probs = np.asarray(detections.attribute_scores)[prep.dets.index[groups.det_src[need]]]
    columns = np.array([prep.gt.attribute_columns.get(int(a), -1) for a in detections.attribute_ids], dtype=np.int64)
    return probs, rows, columns


def _threshold_bits(probs: np.ndarray, columns: np.ndarray, tau: float, n_attributes: int) -> np.ndarray:
    """Packed multi-hot rows over the ground-truth attributes of ``probs > tau``."""
    predicted = probs > tau
    unknown = columns < 0
    if unknown.any() and predicted[:, unknown].any():
        col = int(np.flatnonzero(unknown & predicted.any(axis=0))[0])
        raise EvaluationInputError(
            "results", f"attribute column {col}", "predicts an attribute id that the ground truth does not list"
        )
    dense = np.zeros((len(probs), n_attributes), dtype=bool)
    dense[:, columns[~unknown]] = predicted[:, ~unknown]
    return pack_columns(dense)


def _category_limits(groups: Groups, n_cat: int, s_grid: np.ndarray) -> np.ndarray:
    """(S, K): how many of each category's kept detections score above each threshold.

    They are the first ones of the category's score order, so a row keeps its true positives at
    positions below this count.
    """
    out = np.zeros((len(s_grid), n_cat), dtype=np.int64)
    for i, s in enumerate(s_grid):
        out[i] = np.bincount(groups.det_cat[groups.det_score > s], minlength=n_cat)
    return out
