"""The files of a model folder (fashion_core/bundle_format.py): what the writers write, the readers read back,
and one line naming the file and the key for a file that is not what it should be."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest

from fashion_core.bundle_format import (
    METRICS_FILE,
    REPORT_FILE,
    THRESHOLDS_FILE,
    BundleFormatError,
    BundleMetrics,
    CheckpointReport,
    ThresholdTable,
    read_dataset,
    read_metrics,
    read_report,
    read_thresholds,
    recorded_threads,
    write_dataset,
    write_metrics,
    write_report,
    write_thresholds,
)
from fashion_core.data import DatasetSpec
from fashion_core.evaluation import ThresholdSweep

# A best/thresholds.json as the search wrote it before this module existed (smoke search, trimmed to 3 classes).
EARLIER_FILE = {
    "iteration": 100,
    "class_ids": [0, 1, 2],
    "iou_type": "segm",
    "metric": "AP_iou_f1",
    "score_thresholds": [0.05, 0.3, 0.5],
    "attribute_thresholds": [0.3, 0.5, 0.7],
    "table": [[0.12, 0.11, 0.1], [0.09, 0.08, 0.07], [0.02, 0.02, 0.01]],
    "best": {"score_threshold": 0.05, "attribute_threshold": 0.3, "AP_iou_f1": 0.12},
    "per_class": {
        "table": [0.121, 0.09, 0.02],
        "score_threshold": 0.05,
        "AP_iou_f1": 0.121,
        "thresholds": {"1": 0.5},
        "thresholds_per_score_row": [{"1": 0.5}, {"1": 0.3}, {}],
    },
    "chosen": {"score_threshold": 0.05, "attribute_threshold": 0.3,
               "per_class_thresholds": {"0": 0.3, "1": 0.5, "2": 0.3}, "expected_AP_iou_f1": 0.121},
}


def _sweep() -> ThresholdTable:
    """A real sweep's table, as the evaluator hands it to the report hook."""
    found = ThresholdSweep("AP_iou_f1", np.array([0.05, 0.3]), np.array([0.3, 0.5, 0.7]),
                           np.array([[0.1, 0.2, 0.15], [0.12, 0.25, 0.18]]), np.array([0.21, 0.27]),
                           {7: 0.7}, ({7: 0.3}, {7: 0.7}))
    return found.to_table(class_ids=[3, 7])


def test_thresholds_round_trip_and_keep_the_earlier_layout(tmp_path: Path) -> None:
    table = _sweep()
    chosen = table.choose(per_class=False)
    # The best cell (0.3, 0.5); category 7 takes its own best at that score threshold, category 3 the cell's.
    assert (chosen.score_threshold, chosen.attribute_threshold) == (0.3, 0.5)
    assert chosen.per_class_thresholds == {3: 0.5, 7: 0.7} and chosen.expected == 0.27
    written = write_thresholds(tmp_path, table.with_chosen(chosen))
    assert written == tmp_path / THRESHOLDS_FILE
    assert read_thresholds(tmp_path) == table.with_chosen(chosen)
    # The file an earlier search wrote reads, and writes back key for key.
    earlier = ThresholdTable.from_json(EARLIER_FILE, "earlier")
    assert earlier.chosen is not None and earlier.chosen.per_class_thresholds == {0: 0.3, 1: 0.5, 2: 0.3}
    assert earlier.to_json() == EARLIER_FILE


def test_the_per_class_metric_takes_the_per_class_row() -> None:
    table = ThresholdTable.from_json(EARLIER_FILE, "earlier")
    moved = ThresholdTable.from_json({**EARLIER_FILE, "per_class": {**EARLIER_FILE["per_class"],
                                                                    "score_threshold": 0.3}}, "moved")
    assert table.choose(per_class=True).score_threshold == 0.05
    chosen = moved.choose(per_class=True)
    assert chosen.score_threshold == 0.3 and chosen.per_class_thresholds == {0: 0.3, 1: 0.3, 2: 0.3}
    assert chosen.expected == 0.09


@pytest.mark.parametrize(("edit", "key"), [
    (lambda d: d.pop("metric"), "metric: a string"),
    (lambda d: d.update(table=[[0.1, 0.2, 0.3]]), "table: 3 rows"),
    (lambda d: d.update(table=[[0.1], [0.2], [0.3]]), "table[0].row: a list of 3 numbers"),
    (lambda d: d["best"].update(score_threshold=0.9), "best.score_threshold: a cell of the grid"),
    (lambda d: d["per_class"].update(thresholds={"one": 0.5}), "per_class.thresholds: an object"),
    (lambda d: d["chosen"].update(score_threshold="high"), "chosen.score_threshold: a number"),
    (lambda d: d.update(class_ids=["a"]), "class_ids: a list of category ids"),
])
def test_a_bad_thresholds_file_names_its_key(tmp_path: Path, edit: object, key: str) -> None:
    document = json.loads(json.dumps(EARLIER_FILE))
    edit(document)  # type: ignore[operator]
    (tmp_path / THRESHOLDS_FILE).write_text(json.dumps(document))
    with pytest.raises(BundleFormatError) as caught:
        read_thresholds(tmp_path / THRESHOLDS_FILE)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / THRESHOLDS_FILE}: ") and key in message and "\n" not in message


@pytest.mark.parametrize(("content", "problem"), [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "a JSON object is expected, got list"),
    (b"[" * 100_000, "not JSON"),
])
def test_a_file_that_is_not_json_is_one_line(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / THRESHOLDS_FILE
    path.write_bytes(content)
    with pytest.raises(BundleFormatError, match=problem) as caught:
        read_thresholds(path)
    assert "\n" not in str(caught.value)
    with pytest.raises(BundleFormatError, match="cannot be read"):
        read_thresholds(tmp_path / "missing" / THRESHOLDS_FILE)


def _metrics() -> BundleMetrics:
    return BundleMetrics(metric="thresholds/AP_iou_f1", mode="max", value=0.12, trial_id="7025c2cf", stage="confirm",
                         report=4, iteration=100.0, seed=1, config={"lr": 0.0105, "backbone": 34}, seeds=(0, 1),
                         values_over_seeds=(0.105, 0.12), mean=0.1134, std=0.0119,
                         report_metrics={"thresholds/AP_iou_f1": 0.12, "segm/APa_iou_f1": math.nan},
                         torch_threads=1)


def test_metrics_round_trip_with_nan_as_null(tmp_path: Path) -> None:
    write_metrics(tmp_path, _metrics())
    document = json.loads((tmp_path / METRICS_FILE).read_text())  # strict JSON: no NaN
    assert document["report_metrics"]["segm/APa_iou_f1"] is None and document["config"]["backbone"] == 34
    back = read_metrics(tmp_path)
    assert back.report_metrics == {"thresholds/AP_iou_f1": 0.12}
    assert back == BundleMetrics(**{**_metrics().__dict__, "report_metrics": back.report_metrics})


@pytest.mark.parametrize(("field", "value", "key"), [
    ("mode", "maximize", "mode: 'max' or 'min'"),
    ("trial_id", 7, "trial_id: a string"),
    ("seeds", [0, "1"], "seeds: a list of integers"),
    ("torch_threads", 0, "torch_threads: a positive integer"),
    ("report_metrics", {"a": "b"}, "report_metrics: an object of numbers"),
])
def test_a_bad_metrics_file_names_its_key(tmp_path: Path, field: str, value: object, key: str) -> None:
    document = _metrics().to_json()
    document[field] = value
    (tmp_path / METRICS_FILE).write_text(json.dumps(document))
    with pytest.raises(BundleFormatError, match=key):
        read_metrics(tmp_path)


def test_the_thread_count_comes_from_metrics_then_report(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert recorded_threads(tmp_path) is None
    write_report(tmp_path, CheckpointReport(iteration=50, torch_threads=3))
    assert read_report(tmp_path) == CheckpointReport(50, 3)
    assert recorded_threads(tmp_path) == 3
    write_metrics(tmp_path, _metrics())
    assert recorded_threads(tmp_path) == 1
    # A record that cannot be read is no count (the numbers then differ in the last digits, not more), said once.
    (tmp_path / METRICS_FILE).write_text('{"torch_threads": "two"}')
    (tmp_path / REPORT_FILE).write_text("garbage")
    with caplog.at_level(logging.WARNING):
        assert recorded_threads(tmp_path) is None
    assert "torch_threads: an integer is expected" in caplog.text and "not JSON" in caplog.text


def test_dataset_round_trip_and_a_bad_one(tmp_path: Path) -> None:
    spec = DatasetSpec(format="kaggle", annotations=str(tmp_path / "train.csv"), image_dir=str(tmp_path / "train"),
                       val_fraction=0.25, seed=3)
    assert read_dataset(tmp_path) is None
    write_dataset(tmp_path, spec)
    assert read_dataset(tmp_path) == spec
    (tmp_path / "dataset.json").write_text('{"format": "kaggle", "colour": "blue"}')
    with pytest.raises(BundleFormatError, match="dataset.json: not a dataset description"):
        read_dataset(tmp_path)
