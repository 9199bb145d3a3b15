"""The real 2-image Fashionpedia sample (../shared): identical to the official numbers, via API and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fashion_core.evaluate import main

from .conftest import Oracle, assert_matches_official


def test_sample_matches_official(fashionpedia_sample: Path, official: Oracle) -> None:
    gt = json.loads((fashionpedia_sample / "sample.json").read_text())
    results = json.loads((fashionpedia_sample / "fake_results.json").read_text())
    ours = assert_matches_official(official, gt, results, "segm")
    assert 0 < ours["AP_iou_f1"] < 1


def test_sample_cli(fashionpedia_sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--gt", str(fashionpedia_sample / "sample.json"), "--pred", str(fashionpedia_sample / "fake_results.json")]
    assert main([*args, "--iou-type", "segm"]) == 0
    assert "AP_iou_f1" in json.loads(capsys.readouterr().out)["segm"]
    # The sample's ground truth has no boxes: the official bbox evaluation fails too; the error says why.
    assert main(args) == 2
    assert "missing key 'bbox'" in capsys.readouterr().err
