"""Kaggle submission writer: columns, sorted attributes, non-overlapping masks by score."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import pytest

from fashion_core.data._errors import DataError
from fashion_core.data._rle import kaggle_to_mask
from fashion_core.data._submission import InstancePrediction, submission_rows, write_kaggle_submission


def rle(y0: int, y1: int, x0: int, x1: int, shape: tuple[int, int] = (10, 12)) -> dict:
    m = np.zeros(shape, dtype=np.uint8)
    m[y0:y1, x0:x1] = 1
    r = mask_util.encode(np.asfortranarray(m))
    return {"size": r["size"], "counts": r["counts"].decode()}


def test_overlaps_go_to_the_higher_score_and_empty_instances_are_dropped(tmp_path: Path) -> None:
    preds = [
        InstancePrediction("img", rle(0, 6, 0, 6), 1, 0.5, (317, 115, 317)),
        InstancePrediction("img", rle(3, 9, 3, 9), 6, 0.9, ()),
        InstancePrediction("img", rle(4, 6, 4, 6), 8, 0.1, (1,)),  # fully covered by the 0.9 instance
        InstancePrediction("other", rle(0, 2, 0, 2), 10, 0.3, (5,)),
    ]
    path = tmp_path / "sub.csv"
    assert write_kaggle_submission(preds, path) == 3
    with path.open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["ImageId", "EncodedPixels", "ClassId", "AttributesIds"]
        rows = list(reader)
    assert [(r["ImageId"], r["ClassId"], r["AttributesIds"]) for r in rows] == [
        ("img", "6", ""),
        ("img", "1", "115,317"),
        ("other", "10", "5"),
    ]
    high, low = (kaggle_to_mask(r["EncodedPixels"], 10, 12).astype(bool) for r in rows[:2])
    assert not (high & low).any()
    assert high.sum() == 36 and low.sum() == 36 - 9  # the 3 x 3 corner went to the higher score


def test_images_without_predictions_get_a_placeholder_row() -> None:
    rows = submission_rows([InstancePrediction("a", rle(0, 2, 0, 2), 1, 0.5)], image_ids=["a", "b"])
    assert rows[-1] == {"ImageId": "b", "EncodedPixels": "1 1", "ClassId": "23", "AttributesIds": ""}
    assert len(rows) == 2


def test_results_dicts_are_accepted_and_sizes_checked(tmp_path: Path) -> None:
    result = {
        "image_id": 7,
        "category_id": 3,
        "segmentation": rle(0, 2, 0, 2),
        "score": 0.4,
        "attribute_ids": [9, 2],
    }
    assert write_kaggle_submission([result], tmp_path / "s.csv") == 1
    assert '7,1 2 11 2,3,"2,9"' in (tmp_path / "s.csv").read_text()
    bad = dict(result, segmentation=rle(0, 2, 0, 2, shape=(5, 5)))
    with pytest.raises(DataError, match="image '7', segmentation: mask size"):
        write_kaggle_submission([result, bad], tmp_path / "s.csv")
