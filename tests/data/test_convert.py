"""Converters and their CLI: Fashionpedia JSON ⇄ Kaggle CSV on the real sample, results → submission."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import pytest

from fashion_core.data import segmentation_to_rle
from fashion_core.data._fashionpedia import load_fashionpedia_dataset
from fashion_core.data.convert import main

REPO = Path(__file__).resolve().parents[2]


def decoded_masks(dicts: list[dict]) -> list[tuple[object, int, list[int], np.ndarray]]:
    out = []
    for d in dicts:
        for a in d["annotations"]:
            rle = segmentation_to_rle(a["segmentation"], d["height"], d["width"])
            out.append((d["image_id"], a["category_id"], a["attribute_ids"], mask_util.decode(rle)))
    return out


def test_sample_json_to_csv_to_json_keeps_masks_and_attributes(fashionpedia_sample: Path, tmp_path: Path) -> None:
    sample = fashionpedia_sample / "sample.json"
    images = fashionpedia_sample / "images"
    # The sample embeds an older taxonomy (48 classes, 320 attributes with other ids): carry it along.
    labels = tmp_path / "label_descriptions.json"
    assert (
        main(
            [
                "fp2kaggle",
                "--json",
                str(sample),
                "--out-csv",
                str(tmp_path / "train.csv"),
                "--images",
                str(images),
                "--out-labels",
                str(labels),
            ]
        )
        == 0
    )
    with (tmp_path / "train.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and rows[0]["ImageId"] == "000000009813"
    assert (
        main(
            [
                "kaggle2fp",
                "--csv",
                str(tmp_path / "train.csv"),
                "--images",
                str(images),
                "--taxonomy",
                str(labels),
                "--out-json",
                str(tmp_path / "back.json"),
            ]
        )
        == 0
    )
    back_doc = json.loads((tmp_path / "back.json").read_text())
    assert [i["id"] for i in back_doc["images"]] == [9813, 10223]  # numeric ImageIds become the ids again
    original_doc = json.loads(sample.read_text())
    assert back_doc["categories"] == original_doc["categories"]
    assert back_doc["attributes"] == original_doc["attributes"]
    original = decoded_masks(load_fashionpedia_dataset(sample, images, progress=False)[0])
    back = decoded_masks(load_fashionpedia_dataset(tmp_path / "back.json", images, progress=False)[0])
    assert len(back) == len(original)
    for (i0, c0, a0, m0), (i1, c1, a1, m1) in zip(original, back):
        assert (i0, c0, a0) == (i1, c1, a1)
        np.testing.assert_array_equal(m0, m1)


def test_results_to_submission(fashionpedia_sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub.csv"
    assert (
        main(
            [
                "submission",
                "--pred",
                str(fashionpedia_sample / "fake_results.json"),
                "--gt",
                str(fashionpedia_sample / "sample.json"),
                "--out-csv",
                str(out),
            ]
        )
        == 0
    )
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["ImageId"] for r in rows} <= {"000000009813", "000000010223"}
    assert list(rows[0]) == ["ImageId", "EncodedPixels", "ClassId", "AttributesIds"]


def test_cli_bad_input_prints_a_clear_error_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ImageId,EncodedPixels,Height,Width,ClassId,AttributesIds\nx,1 2 3,4,4,0,\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fashion_core.data.convert",
            "kaggle2fp",
            "--csv",
            str(bad),
            "--out-json",
            str(tmp_path / "o.json"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 2
    assert "error: " in proc.stderr and "row 1 (ImageId 'x'), EncodedPixels: odd number of values" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["fp2kaggle", "submission"])
def test_cli_missing_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    flag = "--json" if command == "fp2kaggle" else "--pred"
    assert main([command, flag, str(tmp_path / "none.json"), "--out-csv", str(tmp_path / "o.csv")]) == 2
    assert "error: " in capsys.readouterr().err
