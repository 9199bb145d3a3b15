"""Every number against the official fashionpedia FPEval: generated cases, property tests, edge cases."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from fashion_core.evaluation import EvaluationInputError, evaluate_fashionpedia

from .builders import det, gt_ann, gt_doc, image
from .cases import make_case
from .conftest import Oracle, assert_matches_official
from .strategies import cases

IOU_TYPES = ("segm", "bbox")


# Seeds 0-3 in the fast loop, 4-11 in the full run (with test_seeded_random_cases_many's 20 more).
@pytest.mark.parametrize("seed", [*range(4), *(pytest.param(s, marks=pytest.mark.slow) for s in range(4, 12))])
@pytest.mark.parametrize("boxes_in_results", [False, True])
def test_seeded_random_cases(official: Oracle, seed: int, boxes_in_results: bool) -> None:
    gt, results = make_case(seed, n_images=3, max_gt=6, max_dt=12, boxes_in_results=boxes_in_results)
    for iou_type in IOU_TYPES:
        assert_matches_official(official, gt, results, iou_type)


@pytest.mark.parametrize("seed", [100, 101, 102])
def test_crowded_cases(official: Oracle, seed: int) -> None:
    gt, results = make_case(seed, n_images=5, max_gt=10, max_dt=30, crowd_p=0.3)
    for iou_type in IOU_TYPES:
        assert_matches_official(official, gt, results, iou_type)


# A few examples in the fast loop; the slow run adds many more (the two together: 210, as before the split).
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
def test_property_matches_official(official: Oracle, case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    gt, results = case
    for iou_type in IOU_TYPES:
        assert_matches_official(official, gt, results, iou_type)


@pytest.mark.slow
@settings(max_examples=190, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
def test_property_matches_official_many(official: Oracle, case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    gt, results = case
    for iou_type in IOU_TYPES:
        assert_matches_official(official, gt, results, iou_type)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(200, 220))
def test_seeded_random_cases_many(official: Oracle, seed: int) -> None:
    gt, results = make_case(seed, n_images=4, max_gt=8, max_dt=25, crowd_p=0.2, boxes_in_results=seed % 2 == 0)
    for iou_type in IOU_TYPES:
        assert_matches_official(official, gt, results, iou_type)


def test_inputs_are_not_modified() -> None:
    gt, results = make_case(3, boxes_in_results=True)
    before = json.dumps([gt, results], sort_keys=True)
    evaluate_fashionpedia(gt, results, "segm")
    evaluate_fashionpedia(gt, results, "bbox")
    assert json.dumps([gt, results], sort_keys=True) == before


# --- named edge cases -------------------------------------------------------------------------------

IMG = image(7, 20, 20)
IMG2 = image(8, 20, 20)


def _both(official: Oracle, gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {t: assert_matches_official(official, gt, results, t) for t in IOU_TYPES}


def test_empty_predictions(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 0, (1, 1, 5, 5)), gt_ann(2, IMG, 20, (8, 8, 5, 5))])
    out = _both(official, gt, [])
    assert out["segm"]["AP_iou_f1"] == 0.0 and out["segm"]["APa_iou"] == 0.0 and out["segm"]["APm_iou"] == -1.0


def test_no_ground_truth_at_all(official: Oracle) -> None:
    out = _both(official, gt_doc([IMG], []), [det(IMG, 0, (1, 1, 5, 5), 0.9, attrs=[])])
    assert all(v == -1.0 for v in out["segm"].values())


def test_images_without_ground_truth(official: Oracle) -> None:
    gt = gt_doc([IMG, IMG2, image(9)], [gt_ann(1, IMG, 1, (2, 2, 6, 6), attrs=[3])])
    results = [det(IMG, 1, (2, 2, 6, 6), 0.5, attrs=[3]), det(IMG2, 1, (2, 2, 6, 6), 0.9, attrs=[3]),
               det(IMG2, 13, (0, 0, 4, 4), 0.7)]
    _both(official, gt, results)


def test_empty_attribute_sets(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 0, (1, 1, 8, 8), attrs=[]), gt_ann(2, IMG, 28, (10, 10, 6, 6), attrs=[])])
    results = [det(IMG, 0, (1, 1, 8, 8), 0.9, attrs=[]), det(IMG, 28, (10, 10, 6, 6), 0.8, attrs=[7]),
               det(IMG, 0, (1, 1, 8, 7), 0.7, attrs=[3, 7])]
    out = _both(official, gt, results)
    assert out["segm"]["AP_F175_iou_f1"] > 0  # empty vs empty: F1 = 1


def test_score_ties_keep_results_order(official: Oracle) -> None:
    gt = gt_doc([IMG, IMG2], [gt_ann(1, IMG, 0, (0, 0, 10, 10), attrs=[0]), gt_ann(2, IMG2, 0, (0, 0, 10, 10)),
                              gt_ann(3, IMG, 13, (10, 10, 8, 8))])
    results = [det(IMG, 0, (0, 0, 10, 5), 0.5, attrs=[0]), det(IMG, 0, (0, 0, 10, 10), 0.5, attrs=[3]),
               det(IMG2, 0, (0, 0, 10, 10), 0.5, attrs=[]), det(IMG, 0, (0, 0, 10, 9), 0.5, attrs=[0]),
               det(IMG, 13, (10, 10, 8, 8), 0.5), det(IMG, 13, (10, 10, 8, 4), 0.5)]
    _both(official, gt, results)
    _both(official, gt, results[::-1])


def test_duplicate_detections(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 1, (3, 3, 9, 9), attrs=[7]), gt_ann(2, IMG, 45, (0, 0, 4, 4))])
    d1, d2 = det(IMG, 1, (3, 3, 9, 9), 0.6, attrs=[7]), det(IMG, 45, (0, 0, 4, 4), 0.3)
    _both(official, gt, [d1, copy.deepcopy(d1), d2, copy.deepcopy(d2), copy.deepcopy(d1)])


def test_tiny_and_large_objects_at_area_boundaries(official: Oracle) -> None:
    big = image(1, 200, 200)
    anns = [gt_ann(1, big, 0, (0, 0, 32, 32), attrs=[0]),  # area 1024: small *and* medium
            gt_ann(2, big, 0, (50, 50, 96, 96), attrs=[0]),  # 9216: medium and large
            gt_ann(3, big, 20, (150, 150, 1, 1)),  # 1 px
            gt_ann(4, big, 20, (0, 100, 180, 99), area=1e10 + 1)]  # above every range: ignored everywhere
    results = [det(big, 0, (0, 0, 32, 32), 0.9, attrs=[0]), det(big, 0, (50, 50, 96, 96), 0.8, attrs=[0]),
               det(big, 20, (150, 150, 1, 1), 0.7), det(big, 20, (0, 100, 180, 99), 0.6),
               det(big, 0, (120, 0, 33, 31), 0.5, attrs=[]), det(big, 0, (0, 180, 97, 20), 0.4, attrs=[])]
    _both(official, gt_doc([big], anns), results)


def test_every_category_group(official: Oracle) -> None:
    big = image(1, 60, 60)
    anns, results = [], []
    for c in range(46):
        box = ((c % 8) * 7, (c // 8) * 7, 6, 6)
        anns.append(gt_ann(c + 1, big, c, box, attrs=[3, 7] if c % 3 else []))
        results.append(det(big, c, box, 0.1 + c / 100, attrs=[3] if c % 2 else [3, 7]))
        results.append(det(big, (c + 1) % 46, box, 0.05, attrs=[]))
    out = _both(official, gt_doc([big], anns), results)
    assert {k[:3] for k in out["segm"] if k.startswith(("APo", "APa", "APp"))} == {"APo", "APa", "APp"}


def test_crowd_ground_truth(official: Oracle) -> None:
    # Crowd in an attribute-checked category (matched once) and in a plain one (absorbs many detections).
    gt = gt_doc([IMG], [gt_ann(1, IMG, 0, (0, 0, 12, 12), crowd=1, attrs=[0]), gt_ann(2, IMG, 0, (0, 0, 5, 5)),
                        gt_ann(3, IMG, 20, (8, 8, 12, 12), crowd=1), gt_ann(4, IMG, 20, (0, 12, 6, 6))])
    results = [det(IMG, 0, (0, 0, 4, 4), s, attrs=[0]) for s in (0.9, 0.8, 0.7)]
    results += [det(IMG, 20, (9, 9, 4, 4), s) for s in (0.9, 0.8, 0.7)] + [det(IMG, 20, (0, 12, 6, 6), 0.6)]
    _both(official, gt, results)


def test_more_than_100_detections_per_image_and_category(official: Oracle) -> None:
    big = image(1, 40, 40)
    gt = gt_doc([big], [gt_ann(1, big, 1, (0, 0, 10, 10), attrs=[3]), gt_ann(2, big, 27, (20, 20, 10, 10))])
    results = [det(big, 1, (i % 30, i % 25, 10, 10), round(0.01 * (i % 97), 2), attrs=[3]) for i in range(130)]
    results += [det(big, 27, (20, 20, 10, 10), 0.001), det(big, 27, (21, 20, 10, 10), 0.5)]
    results += [det(big, 27, (i % 30, 0, 5, 5), 0.4) for i in range(15)]
    _both(official, gt, results)


def test_attribute_ids_missing_or_unknown_where_never_read(official: Oracle) -> None:
    gt = gt_doc([IMG, IMG2], [gt_ann(1, IMG, 20, (1, 1, 8, 8)), gt_ann(2, IMG2, 0, (1, 1, 8, 8), attrs=[3])])
    results = [det(IMG, 20, (1, 1, 8, 8), 0.9),  # accessory: attributes never read
               det(IMG, 27, (1, 1, 8, 8), 0.8, attrs=[999]),  # part without attributes: unknown id ignored
               det(IMG, 0, (1, 1, 8, 8), 0.7),  # attribute-checked but no ground truth of 0 in that image
               det(IMG2, 0, (1, 1, 8, 8), 0.6, attrs=[3])]
    _both(official, gt, results)


def test_categories_without_ground_truth(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 2, (1, 1, 8, 8), attrs=[0])])
    results = [det(IMG, c, (1, 1, 8, 8), 0.5, attrs=[0]) for c in (2, 3, 14, 40)]
    _both(official, gt, results)


def test_ground_truth_ids_zero_and_duplicated(official: Oracle) -> None:
    anns = [gt_ann(0, IMG, 1, (0, 0, 8, 8), attrs=[3]), gt_ann(5, IMG, 1, (10, 10, 8, 8), attrs=[3]),
            gt_ann(5, IMG2, 20, (2, 2, 6, 6)), gt_ann(6, IMG2, 13, (0, 0, 3, 3))]
    results = [det(IMG, 1, (0, 0, 8, 8), 0.9, attrs=[3]), det(IMG, 1, (10, 10, 8, 8), 0.8, attrs=[3]),
               det(IMG2, 20, (2, 2, 6, 6), 0.7), det(IMG2, 13, (0, 0, 3, 3), 0.6)]
    _both(official, gt_doc([IMG, IMG2], anns), results)


def test_unknown_category_in_results_is_ignored(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 1, (0, 0, 8, 8), attrs=[3])])
    results = [det(IMG, 99, (0, 0, 8, 8), 0.95), det(IMG, 1, (0, 0, 8, 8), 0.9, attrs=[3])]
    _both(official, gt, results)


def test_first_result_with_box_makes_every_area_a_box_area(official: Oracle) -> None:
    big = image(1, 120, 120)
    gt = gt_doc([big], [gt_ann(1, big, 20, (0, 0, 20, 20)), gt_ann(2, big, 20, (60, 60, 40, 40))])
    first = det(big, 20, (0, 0, 20, 20), 0.9)
    first["bbox"] = [0.0, 0.0, 100.0, 100.0]  # box area 10000 (large) for a 400 px mask
    others = [det(big, 20, (60, 60, 40, 40), 0.8), det(big, 20, (100, 0, 10, 10), 0.7)]
    for o in others:
        o["bbox"] = [0.0, 0.0, 30.0, 30.0]
    out = _both(official, gt, [first, *others])
    assert out["segm"]["APl_iou"] != out["segm"]["APs_iou"]


def test_results_with_boxes_only(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 0, (2, 2, 8, 8), attrs=[3]), gt_ann(2, IMG, 20, (10, 10, 5, 5))])
    results = [{"image_id": IMG["id"], "category_id": 0, "score": 0.9, "bbox": [2.0, 2.0, 8.0, 8.0],
                "attribute_ids": [3]},
               {"image_id": IMG["id"], "category_id": 20, "score": 0.8, "bbox": [10.5, 10.0, 5.0, 4.5]}]
    _both(official, gt, results)


def test_result_ids_are_ignored_and_polygons_accepted_with_boxes(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 0, (2, 2, 8, 8), attrs=[3]), gt_ann(2, IMG, 20, (10, 10, 5, 5))])
    results = [det(IMG, 0, (2, 2, 8, 8), 0.9, attrs=[3], with_bbox=True),
               det(IMG, 20, (10, 10, 5, 5), 0.8, with_bbox=True), det(IMG, 20, (10, 10, 5, 4), 0.7, with_bbox=True)]
    results[1]["segmentation"] = [[10.0, 10.0, 15.0, 10.0, 15.0, 15.0, 10.0, 15.0]]
    for r in results:
        r["id"] = 0
    _both(official, gt, results)


def test_polygon_and_uncompressed_ground_truth(official: Oracle) -> None:
    anns = [gt_ann(1, IMG, 0, (2, 2, 8, 8), attrs=[3]), gt_ann(2, IMG, 20, (10, 10, 5, 5))]
    anns[0]["segmentation"] = [[2.0, 2.0, 10.0, 2.0, 10.0, 10.0, 2.0, 10.0]]
    anns[1]["segmentation"] = {"size": [20, 20], "counts": [210, 5, 15, 5, 15, 5, 15, 5, 15, 5, 105]}
    results = [det(IMG, 0, (2, 2, 8, 8), 0.9, attrs=[3]), det(IMG, 20, (10, 10, 5, 5), 0.8)]
    _both(official, gt_doc([IMG], anns), results)


def test_more_than_46_categories_and_string_image_ids(official: Oracle) -> None:
    a, b = image("a1b2", 20, 20), image("zz", 20, 20)
    gt = gt_doc([a, b], [gt_ann(1, a, 47, (0, 0, 8, 8)), gt_ann(2, b, 0, (0, 0, 8, 8), attrs=[3])],
                categories=range(48))
    results = [det(a, 47, (0, 0, 8, 8), 0.9), det(b, 0, (0, 0, 8, 8), 0.8, attrs=[3])]
    _both(official, gt, results)


def test_iou_exactly_at_thresholds(official: Oracle) -> None:
    # 10x10 ground truth; detections with IoU exactly 0.5, 0.75 and 0.9.
    gt = gt_doc([IMG], [gt_ann(1, IMG, 13, (0, 0, 10, 10)), gt_ann(2, IMG2, 1, (0, 0, 10, 10), attrs=[0])])
    gt["images"].append(IMG2)
    results = [det(IMG, 13, (0, 0, 10, 5), 0.9), det(IMG, 13, (0, 0, 10, 9), 0.8),
               det(IMG2, 1, (0, 0, 10, 5), 0.9, attrs=[0]), det(IMG2, 1, (0, 0, 10, 9), 0.7, attrs=[0, 3]),
               det(IMG2, 1, (0, 0, 10, 10), 0.6, attrs=[3])]
    _both(official, gt, results)


def test_ignore_field_in_ground_truth_is_overridden(official: Oracle) -> None:
    anns = [gt_ann(1, IMG, 0, (0, 0, 8, 8), attrs=[3]), gt_ann(2, IMG, 20, (5, 5, 8, 8), crowd=1)]
    anns[0]["ignore"] = 1
    anns[1]["ignore"] = 0
    _both(official, gt_doc([IMG], anns), [det(IMG, 0, (0, 0, 8, 8), 0.9, attrs=[3]), det(IMG, 20, (5, 5, 8, 8), 0.9)])


def test_category_ids_not_starting_at_zero(official: Oracle) -> None:
    # Ids 100..145: every category *index* below 46 is attribute-checked in the official summary but no id is;
    # without ground truth in those indices the official code still runs.
    gt = gt_doc([IMG], [gt_ann(1, IMG, 113, (0, 0, 8, 8))], categories=range(100, 146))
    _both(official, gt, [det(IMG, 113, (0, 0, 8, 8), 0.9), det(IMG, 140, (0, 0, 8, 8), 0.9)])


# --- input the official code rejects or crashes on ---------------------------------------------------


def _crashes(official: Oracle, gt: dict[str, Any], results: list[dict[str, Any]], iou_type: str = "segm") -> None:
    with pytest.raises(Exception):  # noqa: B017 - any official failure (AssertionError, KeyError...)
        official(gt, results, iou_type)
    with pytest.raises(EvaluationInputError):
        evaluate_fashionpedia(gt, results, iou_type)


def test_rejects_results_on_unknown_images(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 0, (0, 0, 8, 8))])
    _crashes(official, gt, [det(IMG2, 0, (0, 0, 8, 8), 0.9, attrs=[])])


def test_rejects_ground_truth_without_iscrowd(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 0, (0, 0, 8, 8))])
    del gt["annotations"][0]["iscrowd"]
    _crashes(official, gt, [det(IMG, 0, (0, 0, 8, 8), 0.9, attrs=[])])


def test_rejects_fewer_than_46_categories(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 0, (0, 0, 8, 8))], categories=range(20))
    _crashes(official, gt, [det(IMG, 0, (0, 0, 8, 8), 0.9, attrs=[])])


def test_rejects_missing_attribute_ids_where_f1_is_needed(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 0, (0, 0, 8, 8))])
    _crashes(official, gt, [det(IMG, 0, (0, 0, 8, 8), 0.9)])


def test_rejects_unknown_attribute_where_f1_is_needed(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 0, (0, 0, 8, 8))])
    _crashes(official, gt, [det(IMG, 0, (0, 0, 8, 8), 0.9, attrs=[12345])])


def test_rejects_attribute_checked_index_with_plain_id(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 113, (0, 0, 8, 8))], categories=range(100, 146))
    gt["annotations"][0]["category_id"] = 100  # index 0 (checked), id 100 (not)
    _crashes(official, gt, [det(IMG, 100, (0, 0, 8, 8), 0.9)])


def test_rejects_results_without_geometry(official: Oracle) -> None:
    gt = gt_doc([IMG], [gt_ann(1, IMG, 0, (0, 0, 8, 8))])
    _crashes(official, gt, [{"image_id": IMG["id"], "category_id": 0, "score": 0.5, "attribute_ids": []}])
