"""The detectron2 adapter: Instances in, the same numbers as evaluate_fashionpedia out."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("detectron2")

from detectron2.structures import Boxes, BoxMode, Instances  # noqa: E402

from fashion_core.bundle_format import ThresholdTable  # noqa: E402
from fashion_core.data import dataset_dicts_to_gt  # noqa: E402
from fashion_core.evaluation import evaluate_fashionpedia  # noqa: E402
from fashion_core.evaluation.d2_evaluator import (  # noqa: E402
    SWEEP_KEY,
    FashionpediaEvaluator,
    instances_to_raw,
)

ATTRS = np.array([3, 7, 115])


def _dataset_dicts() -> list[dict]:
    return [
        {"image_id": 11, "height": 16, "width": 20, "file_name": "a.jpg", "annotations": [
            {"bbox": [1, 1, 9, 9], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0, "iscrowd": 0,
             "segmentation": [[1.0, 1.0, 9.0, 1.0, 9.0, 9.0, 1.0, 9.0]], "attribute_ids": [3, 7]},
            {"bbox": [10, 2, 5, 5], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 20, "area": 25.0,
             "segmentation": [[10.0, 2.0, 15.0, 2.0, 15.0, 7.0, 10.0, 7.0]], "attribute_ids": []},
        ]},
        {"image_id": 12, "height": 16, "width": 20, "file_name": "b.jpg", "annotations": []},
    ]


def _instances(h: int, w: int, boxes: list[list[float]], classes: list[int], scores: list[float],
               attr: list[list[float]]) -> Instances:
    inst = Instances((h, w))
    masks = torch.zeros((len(boxes), h, w), dtype=torch.bool)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        masks[i, int(y0):int(y1), int(x0):int(x1)] = True
    inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.pred_masks = masks
    inst.scores = torch.tensor(scores, dtype=torch.float32)
    inst.pred_classes = torch.tensor(classes, dtype=torch.int64)
    inst.attr_scores = torch.tensor(attr, dtype=torch.float32).reshape(-1, len(ATTRS))
    return inst


def test_dataset_dicts_to_gt() -> None:
    gt = dataset_dicts_to_gt(_dataset_dicts(), class_index_to_id=range(46), attribute_ids=ATTRS)
    assert [img["id"] for img in gt["images"]] == [11, 12]
    a, b = gt["annotations"]
    assert a["bbox"] == [1.0, 1.0, 8.0, 8.0] and a["area"] == 64.0 and a["id"] == 1
    assert b["area"] == 25.0 and b["category_id"] == 20 and len(gt["categories"]) == 46


def test_evaluator_matches_direct_evaluation() -> None:
    gt = dataset_dicts_to_gt(_dataset_dicts(), class_index_to_id=range(46), attribute_ids=ATTRS)
    evaluator = FashionpediaEvaluator(gt, ATTRS, attribute_threshold=0.5, sweep=([0.0, 0.5], [0.3, 0.6]))
    evaluator.reset()
    outputs = [
        _instances(16, 20, [[1, 1, 9, 9], [10, 2, 15, 7], [0, 0, 4, 4]], [0, 20, 0], [0.9, 0.8, 0.3],
                   [[0.9, 0.6, 0.1], [0.2, 0.2, 0.2], [0.7, 0.1, 0.1]]),
        _instances(16, 20, [], [], [], []),
    ]
    evaluator.process([{"image_id": 11}, {"image_id": 12}], [{"instances": o} for o in outputs])
    got = evaluator.evaluate()
    raw = instances_to_raw(11, outputs[0], ATTRS)
    results = raw.to_results(attribute_threshold=0.5)
    assert results[0]["attribute_ids"] == [3, 7] and results[0]["bbox"] == [1.0, 1.0, 8.0, 8.0]
    for iou_type in ("segm", "bbox"):
        assert got[iou_type] == evaluate_fashionpedia(gt, results, iou_type)
    assert got["segm"]["AP_iou_f1"] > 0
    assert set(got["thresholds"]) == {"score", "attribute", "AP_iou_f1", "per_class_score", "per_class_AP_iou_f1"}
    # The whole table travels beside the numbers, as thresholds.json holds it, with the class id of every class index.
    table = got[SWEEP_KEY]
    assert table.class_ids == tuple(range(46)) and table.score_thresholds == (0.0, 0.5)
    assert table.best[2] == got["thresholds"]["AP_iou_f1"]
    assert ThresholdTable.from_json(json.loads(json.dumps(table.to_json())), "round trip") == table


def test_evaluator_applies_the_score_and_per_class_thresholds() -> None:
    gt = dataset_dicts_to_gt(_dataset_dicts(), class_index_to_id=range(46), attribute_ids=ATTRS)
    output = _instances(16, 20, [[1, 1, 9, 9], [10, 2, 15, 7], [0, 0, 4, 4]], [0, 20, 0], [0.9, 0.8, 0.3],
                        [[0.9, 0.6, 0.1], [0.2, 0.2, 0.2], [0.7, 0.1, 0.1]])
    raw = instances_to_raw(11, output, ATTRS)
    evaluator = FashionpediaEvaluator(
        gt, ATTRS, attribute_threshold=0.5, class_attribute_thresholds={0: 0.8}, score_threshold=0.5
    )
    evaluator.reset()
    evaluator.process([{"image_id": 11}], [{"instances": output}])
    got = evaluator.evaluate()
    # Class 0 predicts above 0.8 only, class 20 above 0.5; the 0.3-score detection is left out.
    results = raw.to_results(score_threshold=0.5, attribute_threshold={0: 0.8, 20: 0.5})
    assert [r["attribute_ids"] for r in results] == [[3], []]
    assert got["segm"] == evaluate_fashionpedia(gt, results, "segm")
    assert got["segm"] != evaluate_fashionpedia(gt, raw.to_results(attribute_threshold=0.5), "segm")


def test_evaluator_without_predictions() -> None:
    gt = dataset_dicts_to_gt(_dataset_dicts(), class_index_to_id=range(46), attribute_ids=ATTRS)
    evaluator = FashionpediaEvaluator(gt, ATTRS)
    evaluator.reset()
    evaluator.process([{"image_id": 11}], [{"instances": _instances(16, 20, [], [], [], [])}])
    assert evaluator.evaluate()["segm"]["AP_iou_f1"] == 0.0
