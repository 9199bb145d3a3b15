"""The threshold sweep: every cell equals a full evaluation of the thresholded results."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from fashion_core.evaluation import EvaluationInputError, RawDetections, evaluate_fashionpedia, sweep_thresholds
from fashion_core.evaluation.thresholds import parse_metric

from .builders import ATTRIBUTES
from .cases import make_case

SCORES = (-1.0, 0.3, 0.5, 0.9)
ATTRS = (0.1, 0.5, 0.55, 0.9)


def _raw(seed: int, boxes: bool) -> tuple[dict[str, Any], RawDetections]:
    gt, results = make_case(seed, n_images=4, max_gt=6, max_dt=15, boxes_in_results=boxes)
    rng = np.random.default_rng(seed)
    probs = rng.choice([0.05, 0.3, 0.5, 0.55, 0.75, 0.95], size=(len(results), len(ATTRIBUTES)))
    raw = RawDetections(
        image_ids=[r["image_id"] for r in results], category_ids=np.array([r["category_id"] for r in results]),
        scores=np.array([r["score"] for r in results]), attribute_scores=probs, attribute_ids=np.array(ATTRIBUTES),
        segmentations=[r["segmentation"] for r in results],
        boxes=np.array([r["bbox"] for r in results]) if boxes else None,
    )
    return gt, raw


METRICS = ("AP_iou_f1", "AP50_F175_iou_f1", "AP_F150_f1", "APa_iou", "APp_f1")


# Seeds 0 (masks only) and 1 (with boxes) in the fast loop, 2 and 3 in the full run.
@pytest.mark.parametrize("seed", [0, 1, *(pytest.param(s, marks=pytest.mark.slow) for s in (2, 3))])
@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_every_cell_equals_a_full_evaluation(seed: int, iou_type: str) -> None:
    gt, raw = _raw(seed, boxes=seed % 2 == 1)
    expected = {(s, a): evaluate_fashionpedia(gt, raw.to_results(s, a), iou_type) for s in SCORES for a in ATTRS}
    for metric in METRICS:
        sweep = sweep_thresholds(gt, raw, iou_type, SCORES, ATTRS, metric=metric)
        assert sweep.table.shape == (len(SCORES), len(ATTRS))
        for i, s in enumerate(SCORES):
            for j, a in enumerate(ATTRS):
                assert sweep.table[i, j] == pytest.approx(expected[s, a][metric], abs=1e-12), (metric, s, a)


@pytest.mark.parametrize("seed", range(4, 8))
def test_per_class_thresholds_are_consistent_and_no_worse(seed: int) -> None:
    gt, raw = _raw(seed, boxes=False)
    sweep = sweep_thresholds(gt, raw, "segm", SCORES, ATTRS)
    s = sweep.per_class_score_threshold
    value = evaluate_fashionpedia(gt, raw.to_results(s, sweep.per_class_thresholds), "segm")["AP_iou_f1"]
    assert value == pytest.approx(sweep.per_class_value, abs=1e-12)
    assert sweep.per_class_value >= sweep.best[2] - 1e-12
    assert set(sweep.per_class_thresholds) <= {0, 1, 28, 32}
    assert len(sweep.records()) == len(SCORES) * len(ATTRS)


def test_threshold_that_removes_everything_scores_like_no_detections() -> None:
    gt, raw = _raw(1, boxes=False)
    sweep = sweep_thresholds(gt, raw, "segm", [math.inf], [0.5])
    assert sweep.table[0, 0] == evaluate_fashionpedia(gt, [], "segm")["AP_iou_f1"] == 0.0


def test_metric_names_are_validated() -> None:
    assert parse_metric("AP75_iou")[0].iou_thr == 0.75
    with pytest.raises(ValueError, match="AP_iou_f1"):
        parse_metric("APs_iou_f1")  # needs another area range
    with pytest.raises(ValueError):
        parse_metric("APa_iou_f1")  # the official code has no APa with F1


def test_predicting_an_attribute_the_ground_truth_does_not_list_is_an_error() -> None:
    gt, raw = _raw(2, boxes=False)
    bad = RawDetections(image_ids=raw.image_ids, category_ids=np.zeros(len(raw), dtype=np.int64), scores=raw.scores,
                        attribute_scores=np.full((len(raw), 1), 0.9), attribute_ids=np.array([4242]),
                        segmentations=raw.segmentations)
    with pytest.raises(EvaluationInputError, match="attribute"):
        sweep_thresholds(gt, bad, "segm", [0.0], [0.5])


def test_raw_detections_validate_shapes() -> None:
    with pytest.raises(ValueError, match="rows"):
        RawDetections(image_ids=[1, 2], category_ids=np.array([0]), scores=np.array([0.5, 0.4]),
                      attribute_scores=np.zeros((2, 1)), attribute_ids=np.array([3]), boxes=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="neither"):
        RawDetections(image_ids=[1], category_ids=np.array([0]), scores=np.array([0.5]),
                      attribute_scores=np.zeros((1, 1)), attribute_ids=np.array([3]))


def test_to_results_format() -> None:
    raw = RawDetections(image_ids=[np.int64(3)], category_ids=np.array([1]), scores=np.array([0.7]),
                        attribute_scores=np.array([[0.2, 0.6, 0.5]]), attribute_ids=np.array([10, 20, 30]),
                        boxes=np.array([[1.0, 2.0, 3.0, 4.0]]))
    (res,) = raw.to_results(0.5, 0.5, with_probabilities=True)
    assert res == {"image_id": 3, "category_id": 1, "score": 0.7, "bbox": [1.0, 2.0, 3.0, 4.0],
                   "attribute_ids": [20], "attribute_scores": [0.2, 0.6, 0.5]}
    assert raw.to_results(0.7) == []  # strict: score must exceed the threshold
    assert raw.to_results(attribute_threshold={1: 0.1})[0]["attribute_ids"] == [10, 20, 30]
