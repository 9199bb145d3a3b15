"""The stages of an evaluation up to the precision/recall tables, shared by :mod:`.api` and the threshold
sweep (:mod:`.thresholds`), which re-runs the later ones per threshold.

:mod:`.inputs` (the official view of the inputs) -> :mod:`.groups` (sort, cap, IoU) ->
:mod:`.f1` (attribute F1 per pair) -> :mod:`.matching` (greedy matching, all thresholds) ->
:mod:`.accumulate` (precision/recall tables); :mod:`.summarize` then gives the official keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .accumulate import Tables, accumulate, count_ground_truth, ignored_ground_truth
from .errors import EvaluationInputError
from .f1 import attribute_bits, pair_f1
from .groups import Groups, build_groups, pair_indices
from .inputs import Detections, GroundTruth, load_ground_truth, load_results
from .matching import Units, build_units, match
from .params import AREA_RANGES, CATS_WITH_ATTRIBUTES, F1_THRESHOLDS, IOU_THRESHOLDS


@dataclass(frozen=True)
class Prepared:
    """Everything that does not depend on thresholds: inputs, groups, IoUs, category flags.

    ``scored`` (K,): category *index* in CATS_WITH_ATTRIBUTES (what accumulate/summarize test);
    ``checks_f1`` (K,): category *id* in it (what the matching tests). They differ only for
    ground truth whose category ids are not 0..K-1 (QUIRKS.md 13).
    """

    gt: GroundTruth
    dets: Detections
    groups: Groups
    scored: np.ndarray
    checks_f1: np.ndarray


def prepare(gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]], iou_type: str) -> Prepared:
    """Read ``gt``/``results`` as the official code does and compute every IoU once."""
    gt_view = load_ground_truth(gt, iou_type)
    return prepare_loaded(gt_view, load_results(results, gt_view))


def prepare_loaded(gt_view: GroundTruth, dets: Detections) -> Prepared:
    """:func:`prepare` from inputs already in the official view."""
    groups = build_groups(gt_view, dets)
    n_cat = gt_view.num_categories
    scored = np.array([k in CATS_WITH_ATTRIBUTES for k in range(n_cat)], dtype=bool)
    checks_f1 = np.array([cid in CATS_WITH_ATTRIBUTES for cid in gt_view.category_ids], dtype=bool)
    num_gt = count_ground_truth(gt_view, ignored_ground_truth(gt_view))
    broken = np.flatnonzero(scored & ~checks_f1 & (num_gt > 0).any(axis=1))
    if len(broken):
        cid = gt_view.category_ids[int(broken[0])]
        raise EvaluationInputError(
            "ground truth",
            "categories",
            f"category id {cid!r} sits at index {int(broken[0])}, an index the official code treats as "
            "attribute-checked although the id is not; FPEval.accumulate fails on it (use ids 0..45)",
        )
    return Prepared(gt=gt_view, dets=dets, groups=groups, scored=scored, checks_f1=checks_f1)


@dataclass(frozen=True)
class F1Pairs:
    """The (detection, ground truth) pairs whose attribute F1 the official code computes.

    (P',) arrays: kept-detection index, row of the ground truth in ``gt_bits`` (packed attribute rows),
    and position in the (P,) pair layout of ``Groups.iou``.
    """

    det: np.ndarray
    gt_row: np.ndarray
    flat: np.ndarray
    gt_bits: np.ndarray


def f1_pairs(prep: Prepared) -> F1Pairs:
    """Pairs of the F1-checked groups, with the ground truth's attribute sets read once."""
    gt = prep.gt
    di, gi, flat = pair_indices(prep.groups, f1_groups(prep))
    gts = np.unique(gi)
    gt_bits = (
        attribute_bits(
            [gt.anns[i] for i in gts],
            gt.attribute_columns,
            "ground truth",
            [f"annotation id {gt.anns[i]['id']!r}" for i in gts],
        )
        if len(gts)
        else np.zeros((0, 0))
    )
    return F1Pairs(det=di, gt_row=np.searchsorted(gts, gi), flat=flat, gt_bits=gt_bits)


def detection_f1(prep: Prepared, pairs: F1Pairs, det_bits: np.ndarray, det_rows: np.ndarray) -> np.ndarray:
    """(P,) official attribute F1 of every pair of the F1-checked groups (0 elsewhere).

    ``det_bits`` are packed attribute rows; ``det_rows`` (Dk,) maps each kept detection to its row.
    """
    f1 = np.zeros(len(prep.groups.iou))
    if len(pairs.det):
        f1[pairs.flat] = pair_f1(
            det_bits, pairs.gt_bits, det_rows[pairs.det], pairs.gt_row, len(prep.gt.attribute_columns)
        )
    return f1


def f1_groups(prep: Prepared) -> np.ndarray:
    """Paired groups whose category id is checked for attributes (their F1 is needed)."""
    paired = prep.groups.paired_groups()
    return paired[prep.checks_f1[prep.groups.group_cat[paired]]]


def listed_detection_bits(prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Packed ``attribute_ids`` rows of the detections whose F1 is needed, and the (Dk,) row map."""
    groups = prep.groups
    which = f1_groups(prep)
    need = np.isin(groups.det_group, which)
    rows = np.full(len(groups.det_group), -1, dtype=np.int64)
    rows[need] = np.arange(int(need.sum()))
    src = groups.det_src[need]
    records = [prep.dets.records[i] for i in src]
    bits = attribute_bits(
        records, prep.gt.attribute_columns, "results", [f"result index {int(prep.dets.index[i])}" for i in src]
    )
    return bits, rows


def area_units(prep: Prepared, area_indices: Sequence[int]) -> tuple[Units, np.ndarray]:
    """Matching units: one per paired group and distinct ground-truth ignore pattern over the areas.

    Returns the units and ``unit_areas`` (U, len(area_indices)) bool.
    """
    groups = prep.groups
    ignored = ignored_ground_truth(prep.gt, tuple(AREA_RANGES[a] for a in area_indices))
    paired = groups.paired_groups()
    unit_group: list[int] = []
    unit_flags: list[np.ndarray] = []
    unit_areas: list[list[bool]] = []
    for q in paired:
        g0, ng = groups.group_gt_start[q], groups.group_gt_count[q]
        seen: dict[bytes, int] = {}
        for a in range(len(area_indices)):
            flags = ignored[a, g0 : g0 + ng]
            key = flags.tobytes()
            if key not in seen:
                seen[key] = len(unit_group)
                unit_group.append(int(q))
                unit_flags.append(flags)
                unit_areas.append([False] * len(area_indices))
            unit_areas[seen[key]][a] = True
    group_ids = np.asarray(unit_group, dtype=np.int64)
    flat = np.concatenate(unit_flags) if unit_flags else np.zeros(0, dtype=bool)
    crowd = np.asarray(prep.gt.crowd, dtype=np.int64) != 0
    units = build_units(groups, group_ids, flat, crowd, prep.checks_f1[groups.group_cat[group_ids]])
    return units, np.asarray(unit_areas, dtype=bool).reshape(len(group_ids), len(area_indices))


def compute_tables(prep: Prepared) -> Tables:
    """The official precision/recall tables for the results as given."""
    if len(f1_groups(prep)):
        bits, rows = listed_detection_bits(prep)
        f1 = detection_f1(prep, f1_pairs(prep), bits, rows)
    else:
        f1 = np.zeros(len(prep.groups.iou))
    units, unit_areas = area_units(prep, range(len(AREA_RANGES)))
    matches = match(prep.groups, units, f1, np.arange(len(IOU_THRESHOLDS)), np.arange(len(F1_THRESHOLDS)))
    return accumulate(prep.gt, prep.groups, matches, unit_areas, prep.scored)
