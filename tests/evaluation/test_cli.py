"""``python -m fashion_core.evaluate``: one JSON object on stdout, one clear line on stderr for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_core.evaluate import main
from fashion_core.evaluation import evaluate_fashionpedia
from fashion_core.evaluation.summarize import GROUPS, key_specs

from .builders import det, gt_ann, gt_doc, image

IMG = image(1, 20, 20)
GT = gt_doc([IMG], [gt_ann(1, IMG, 0, (0, 0, 8, 8), attrs=[3]), gt_ann(2, IMG, 20, (9, 9, 8, 8))])
RESULTS = [det(IMG, 0, (0, 0, 8, 8), 0.9, attrs=[3], with_bbox=True), det(IMG, 20, (9, 9, 7, 8), 0.8, with_bbox=True)]

EXPECTED_KEYS = {f"{s.name}_{g}" for g, (f1, iou) in GROUPS.items() for s in key_specs(f1, iou)}


def _write(tmp_path: Path, name: str, doc: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_prints_segm_and_bbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--gt", _write(tmp_path, "gt.json", GT), "--pred", _write(tmp_path, "pred.json", RESULTS)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"segm", "bbox"}
    assert set(out["segm"]) == EXPECTED_KEYS
    assert out["bbox"] == evaluate_fashionpedia(GT, RESULTS, "bbox")
    assert {"AP_iou_f1", "AP50_iou", "AR100_f1", "APa_iou", "AP75_F150_iou_f1"} <= set(out["segm"])
    assert "APa_iou_f1" not in out["segm"] and "APa_f1" not in out["segm"]


def test_module_entry_point(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "fashion_core.evaluate", "--gt", _write(tmp_path, "gt.json", GT),
                           "--pred", _write(tmp_path, "p.json", RESULTS), "--iou-type", "segm"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout)) == ["segm"]


@pytest.mark.parametrize(
    ("gt", "pred", "message"),
    [
        (None, RESULTS, "file not found"),
        ("{not json", RESULTS, "invalid JSON"),
        ([], RESULTS, "expected an object"),
        ({"images": []}, RESULTS, "missing key 'annotations'"),
        (GT, {"a": 1}, "expected a list of results"),
        (GT, [{"image_id": 5, "category_id": 0, "score": 1.0, "bbox": [0, 0, 1, 1]}], "not an image of the ground"),
        (GT, [{"image_id": 1, "category_id": 0, "bbox": [0, 0, 1, 1], "attribute_ids": []}], "missing key 'score'"),
        (GT, [{"image_id": 1, "category_id": 0, "score": "high", "bbox": [0, 0, 1, 1]}], "must be a number"),
        (GT, [{"image_id": 1, "category_id": 0, "score": 0.5, "bbox": [0, 0, 1]}], "'bbox' must be"),
        (GT, [{"image_id": 1, "category_id": 0, "score": 0.5, "segmentation": [[0, 0, 1, 1, 2, 0]]}],
         "compressed RLE"),
        (GT, [{"image_id": 1, "category_id": 0, "score": 0.5, "bbox": [0, 0, 2, 2], "attribute_ids": [77]}],
         "not in the ground truth's attributes"),
    ],
)
def test_bad_input_gives_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], gt: object,
                                          pred: object, message: str) -> None:
    gt_path = str(tmp_path / "missing.json") if gt is None else (
        str(tmp_path / "gt.json") if isinstance(gt, str) else _write(tmp_path, "gt.json", gt))
    if isinstance(gt, str):
        (tmp_path / "gt.json").write_text(gt)
    assert main(["--gt", gt_path, "--pred", _write(tmp_path, "pred.json", pred)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
