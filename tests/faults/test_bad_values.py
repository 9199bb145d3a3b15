"""Issue 13 items 10 and 12 (values): bad values in otherwise well-formed files are one line naming the
file, the place and what was expected (exit 2 from the CLIs), never a traceback and never silently scored.

* a ground-truth image ``height`` of "abc" or null, in every evaluator path and the Fashionpedia reader;
* NaN/inf scores; result RLEs whose ``size`` is not their image's or whose counts do not sum to h*w
  (pycocotools would silently score them as misses, or write past its buffers); ground truth with
  garbage counts or a NaN area;
* garbage RLE counts in ``convert submission``; a reader cache path that is a file;
* a truncated Kaggle CSV names the row that is cut short (it said "line after data row 0" for row 7).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils
import pytest

from fashion_core.data import DataError, load_kaggle_dataset
from fashion_core.data._fashionpedia import load_fashionpedia_dataset
from fashion_core.evaluation import EvaluationInputError, RawDetections, evaluate_fashionpedia, sweep_thresholds
from tests.data.kaggle_files import COLUMNS, good_rows
from tests.evaluation.builders import det, gt_ann, gt_doc, image, rect_rle

IMG = image(1, 20, 20)
GT = gt_doc([IMG], [gt_ann(1, IMG, 0, (0, 0, 8, 8), attrs=[3]), gt_ann(2, IMG, 20, (9, 9, 8, 8))])
RESULTS = [det(IMG, 0, (0, 0, 8, 8), 0.9, attrs=[3]), det(IMG, 20, (9, 9, 7, 8), 0.8)]


def _write(path: Path, doc: object) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def _one_line_cli(module: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


@pytest.mark.parametrize("height", ["abc", None])
def test_image_height_that_is_not_a_positive_integer(tmp_path: Path, height: Any) -> None:
    gt = copy.deepcopy(GT)
    gt["images"][0]["height"] = height
    gt_path = _write(tmp_path / "gt.json", gt)
    err = _one_line_cli(
        "fashion_core.evaluate", "--gt", gt_path, "--pred", _write(tmp_path / "pred.json", RESULTS)
    )
    assert f"gt.json image id 1 (index 0): 'height' must be a positive integer, got {height!r}" in err
    raw = RawDetections(
        image_ids=[1], category_ids=np.array([0]), scores=np.array([0.9]), attribute_scores=np.zeros((1, 1)),
        attribute_ids=np.array([3]), segmentations=[RESULTS[0]["segmentation"]],
    )
    for iou_type in ("segm", "bbox"):
        with pytest.raises(EvaluationInputError, match="'height' must be a positive integer"):
            evaluate_fashionpedia(gt, RESULTS, iou_type)
    with pytest.raises(EvaluationInputError, match="'height' must be a positive integer"):
        sweep_thresholds(gt, raw)
    with pytest.raises(DataError, match=r"gt.json image id 1 \(index 0\), height: expected a positive integer"):
        load_fashionpedia_dataset(gt_path, tmp_path, check_images=False, progress=False)


@pytest.mark.parametrize("score", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_scores_are_refused(tmp_path: Path, score: float) -> None:
    results = copy.deepcopy(RESULTS)
    results[1]["score"] = score
    with pytest.raises(EvaluationInputError, match=rf"result index 1: 'score' must be finite, got {score}"):
        evaluate_fashionpedia(GT, results, "segm")
    raw = RawDetections(
        image_ids=[1, 1], category_ids=np.array([0, 20]), scores=np.array([0.9, score]),
        attribute_scores=np.zeros((2, 1)), attribute_ids=np.array([3]),
        segmentations=[r["segmentation"] for r in RESULTS],
    )
    with pytest.raises(EvaluationInputError, match="result index 1: 'score' must be finite"):
        sweep_thresholds(GT, raw)
    # json.dumps writes NaN/Infinity, which json.load reads back: the CLI sees the same value.
    err = _one_line_cli("fashion_core.evaluate", "--gt", _write(tmp_path / "gt.json", GT),
                        "--pred", _write(tmp_path / "pred.json", results))
    assert "pred.json result index 1: 'score' must be finite" in err


def _wider_counts(h: int, w: int) -> str:
    """Counts of a valid h x (w + 1) mask: under size [h, w] they sum past h*w."""
    m = np.zeros((h, w + 1), dtype=np.uint8)
    m[:8, :8] = 1
    return mask_utils.encode(np.asfortranarray(m))["counts"].decode("ascii")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": [10, 40]}, r"RLE size \[10, 40\] differs from its image's \[height, width\] \[20, 20\]"),
        ({"counts": _wider_counts(20, 20)}, "invalid RLE counts: run lengths sum to 420, expected h\\*w = 400"),
        ({"counts": "zzzzzzzz"}, "invalid RLE counts: counts hold a character outside '0'..'o'"),
        ({"counts": "ab"}, r"invalid RLE counts: counts end in the middle of a number \(truncated\)"),
    ],
    ids=["size", "sum-past-hw", "garbage", "truncated"],
)
def test_result_masks_that_are_not_masks_of_their_image(change: dict[str, Any], message: str) -> None:
    results = copy.deepcopy(RESULTS)
    results[0]["segmentation"].update(change)
    with pytest.raises(EvaluationInputError, match=f"results result index 0: {message}"):
        evaluate_fashionpedia(GT, results, "segm")
    with_boxes = [dict(r, bbox=[0.0, 0.0, 8.0, 8.0]) for r in results]  # loadRes' box branch: masks checked too
    with pytest.raises(EvaluationInputError, match=f"results result index 0: {message}"):
        evaluate_fashionpedia(GT, with_boxes, "segm")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("segmentation", {"size": [20, 20], "counts": "zzzzzzzz"}, "invalid RLE counts: counts hold a character"),
        ("segmentation", {"size": [20, 20], "counts": _wider_counts(20, 20)}, "invalid RLE counts: run lengths sum"),
        ("segmentation", {"size": [20, 21], "counts": _wider_counts(20, 20)}, r"RLE size \[20, 21\] differs"),
        ("area", float("nan"), "'area' must be finite and >= 0, got nan"),
        ("area", float("inf"), "'area' must be finite and >= 0, got inf"),
    ],
    ids=["garbage-counts", "sum-past-hw", "size", "nan-area", "inf-area"],
)
def test_ground_truth_garbage_counts_or_area(tmp_path: Path, key: str, value: Any, message: str) -> None:
    gt = copy.deepcopy(GT)
    gt["annotations"][1][key] = value
    with pytest.raises(EvaluationInputError, match=f"ground truth annotation id 2: {message}"):
        evaluate_fashionpedia(gt, RESULTS, "segm")
    err = _one_line_cli("fashion_core.evaluate", "--gt", _write(tmp_path / "gt.json", gt),
                        "--pred", _write(tmp_path / "pred.json", RESULTS), "--iou-type", "segm")
    assert "gt.json annotation id 2: " in err


def test_convert_submission_refuses_garbage_counts_and_wrong_sizes(tmp_path: Path) -> None:
    bad = copy.deepcopy(RESULTS)
    bad[1]["segmentation"]["counts"] = "zzzzzzzz"
    err = _one_line_cli("fashion_core.data.convert", "submission", "--pred", _write(tmp_path / "bad.json", bad),
                        "--out-csv", str(tmp_path / "sub.csv"))
    assert "bad.json result index 1, segmentation: invalid RLE counts" in err
    assert not (tmp_path / "sub.csv").exists()
    wrong = copy.deepcopy(RESULTS)
    wrong[0]["segmentation"] = rect_rle(20, 30, (0, 0, 8, 8))
    err = _one_line_cli("fashion_core.data.convert", "submission", "--pred", _write(tmp_path / "w.json", wrong),
                        "--gt", _write(tmp_path / "gt.json", GT), "--out-csv", str(tmp_path / "sub.csv"))
    assert r"w.json result index 0, segmentation: RLE size [20, 30] differs from the image's" in err
    nan = copy.deepcopy(RESULTS)
    nan[0]["score"] = float("nan")
    err = _one_line_cli("fashion_core.data.convert", "submission", "--pred", _write(tmp_path / "n.json", nan),
                        "--out-csv", str(tmp_path / "sub.csv"))
    assert "n.json result index 0, score: expected a finite number, got nan" in err


def _kaggle_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([",".join(COLUMNS), *lines]))
    return path


def _lines(rows: list[list[str]]) -> list[str]:
    return [",".join(f'"{v}"' if "," in v else v for v in r) for r in rows]


def test_cache_path_that_is_a_file_fails_before_parsing(tmp_path: Path) -> None:
    csv_path = _kaggle_csv(tmp_path / "train.csv", _lines(good_rows()))
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    with pytest.raises(DataError, match=r"cache cache folder, cache_dir: is a file; expected a folder"):
        load_kaggle_dataset(csv_path, tmp_path, check_images=False, progress=False, cache_dir=cache)
    with pytest.raises(DataError, match=r"cache_dir: cannot create the folder"):
        load_kaggle_dataset(csv_path, tmp_path, check_images=False, progress=False, cache_dir=cache / "sub")


def test_truncated_kaggle_csv_names_the_row_cut_short(tmp_path: Path) -> None:
    lines = _lines(good_rows() * 2)  # data rows 1..6
    csv_path = _kaggle_csv(tmp_path / "train.csv", [*lines, lines[0][:20]])  # data row 7, cut short
    with pytest.raises(DataError, match=r"train.csv row 7, CSV: 'img_a,63 8 83 8 103 ' has 2 columns, expected 6"):
        load_kaggle_dataset(csv_path, tmp_path, check_images=False, progress=False)


def test_rows_after_a_malformed_line_keep_their_numbers(tmp_path: Path) -> None:
    lines = _lines(good_rows() * 2)
    bad_rle = lines[3].replace("63 8 83 8", "9999999 5", 1)
    csv_path = _kaggle_csv(tmp_path / "train.csv", [*lines[:2], "img_x,1 1,4", lines[2], bad_rle, *lines[4:]])
    _, report = load_kaggle_dataset(csv_path, tmp_path, check_images=False, progress=False, on_error="skip")
    assert [e.split(", ")[0].split(" ", 1)[1] for e in report.examples] == ["row 3", "row 5 (ImageId 'img_a')"]
    with pytest.raises(DataError, match=r"train.csv row 3, CSV: 'img_x,1 1,4' has 3 columns, expected 6"):
        load_kaggle_dataset(csv_path, tmp_path, check_images=False, progress=False)
