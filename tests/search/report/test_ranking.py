"""Ranking with a confirmation stage, and the thresholds a bundle writes into its config.

The trial results here are plain records with the fields of Tune's ``Result`` that the ranking reads
(the end-to-end smoke search in test_search_e2e.py runs the real thing).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fashion_core.bundle_format import ThresholdTable
from search.report import CONFIRM, SEARCH, apply_thresholds, print_summary, results_table, write_results
from search.space import load_space

REPO = Path(__file__).resolve().parents[3]

M = "thresholds/AP_iou_f1"


@dataclass
class _Result:
    path: str
    config: dict[str, Any]
    values: list[float]
    error: BaseException | None = None
    metrics: dict[str, Any] = field(init=False)
    metrics_dataframe: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        rows = [{M: v, "training_iteration": i + 1, "iteration": 25.0 * (i + 1)} for i, v in enumerate(self.values)]
        self.metrics_dataframe = pd.DataFrame(rows)
        self.metrics = {**rows[-1], "trial_id": self.path} if rows else {}


def _grid(*results: _Result) -> list[_Result]:
    return list(results)


def test_confirmed_configs_rank_by_their_mean_and_the_best_report_counts() -> None:
    a, b = {"lr": 0.01}, {"lr": 0.02}
    search = _grid(
        _Result("s1", a, [0.1, 0.2, 0.30, 0.25]),  # best report 3: 0.30
        _Result("s2", b, [0.1, 0.2, 0.28, 0.28]),
        _Result("s3", {"lr": 0.05}, [0.35]),  # lucky, stopped early by ASHA, not confirmed
        _Result("s4", {"lr": 0.9}, [], error=RuntimeError("boom")),
    )
    confirm = _grid(
        _Result("c1", {**a, "seed": 1}, [0.1, 0.1, 0.1, 0.12]),  # a: mean (0.30 + 0.12) / 2 = 0.21
        _Result("c2", {**b, "seed": 1}, [0.1, 0.2, 0.2, 0.26]),  # b: mean (0.28 + 0.26) / 2 = 0.27
    )
    grid: Any = [(SEARCH, search), (CONFIRM, confirm)]
    table = results_table(grid, M, "max", ["lr"], seed=0, full_budget=4)
    assert table["trial_id"].tolist() == ["s2", "c2", "s1", "c1", "s3", "s4"]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    winner = table.iloc[0]
    assert winner["mean"] == pytest.approx(0.27) and winner["std"] == pytest.approx(math.sqrt(2) * 0.01)
    assert winner["seeds"] == 2 and bool(winner["in_mean"])
    assert table.set_index("trial_id").loc["s1", M] == 0.30  # the best report, not the last
    assert table.set_index("trial_id").loc["s1", "best_report"] == 3
    assert table.set_index("trial_id").loc["c2", "seed"] == 1
    assert math.isnan(table.set_index("trial_id").loc["s3", "mean"])
    assert table.set_index("trial_id").loc["s4", "status"] == "ERROR"


def test_without_confirmation_the_best_value_wins() -> None:
    grid: Any = [(SEARCH, _grid(_Result("s1", {"lr": 1}, [0.2]), _Result("s2", {"lr": 2}, [0.1, 0.4])))]
    table = results_table(grid, M, "max", ["lr"], seed=0, full_budget=4)
    assert table["trial_id"].tolist() == ["s2", "s1"]
    assert table["seeds"].tolist() == [0, 0]


def test_integer_choices_stay_integers_where_a_conditional_one_was_not_sampled(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid: Any = [(SEARCH, _grid(_Result("s1", {"depth": 2, "hidden": 128, "lr": 0.01}, [0.2]),
                                _Result("s2", {"depth": 1, "lr": 0.02}, [0.1])))]
    table = results_table(grid, M, "max", ["depth", "hidden", "lr"], seed=0, full_budget=4)
    write_results(table, tmp_path)
    written = (tmp_path / "results.csv").read_text().splitlines()
    header = written[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in written[1:3]]
    assert [(r["param/depth"], r["param/hidden"]) for r in rows] == [("2", "128"), ("1", "")]
    assert rows[0]["param/lr"] == "0.01"
    # The closing table on the console: the same integers, an empty cell for the one not sampled.
    spec = load_space(REPO / "spaces" / "smoke.yaml")
    print_summary(table, spec, tmp_path, None, None)
    shown = capsys.readouterr().out
    assert "<NA>" not in shown and "NaN" not in shown and "128.0" not in shown
    assert re.search(r"s1 .* 2 +128 +0\.01", shown) and re.search(r"s2 .* 1 +0\.02", shown), shown


def _sweep() -> ThresholdTable:
    return ThresholdTable.from_json({
        "metric": "AP_iou_f1",
        "class_ids": [0, 1, 2],
        "score_thresholds": [0.05, 0.3],
        "attribute_thresholds": [0.3, 0.5],
        "table": [[0.1, 0.2], [0.15, 0.25]],
        "best": {"score_threshold": 0.3, "attribute_threshold": 0.5, "AP_iou_f1": 0.25},
        "per_class": {
            "table": [0.22, 0.27],
            "score_threshold": 0.3,
            "AP_iou_f1": 0.27,
            "thresholds": {"0": 0.3},
            "thresholds_per_score_row": [{"0": 0.5, "2": 0.3}, {"0": 0.3}],
        },
    }, "test")


def test_bundle_thresholds_follow_the_ranking_metric() -> None:
    config: dict[str, Any] = {"MODEL": {"ROI_HEADS": {}, "ROI_ATTRIBUTE_HEAD": {}}}
    chosen = apply_thresholds(config, _sweep(), M).chosen
    assert config["MODEL"]["ROI_HEADS"]["SCORE_THRESH_TEST"] == 0.3
    assert config["MODEL"]["ROI_ATTRIBUTE_HEAD"]["SCORE_THRESH"] == 0.5
    # Class 0 takes its own threshold at the chosen score row; the others keep the cell's.
    assert config["MODEL"]["ROI_ATTRIBUTE_HEAD"]["CLASS_SCORE_THRESH"] == [0.3, 0.5, 0.5]
    assert chosen is not None and chosen.expected == 0.27
    assert chosen.per_class_thresholds == {0: 0.3, 1: 0.5, 2: 0.5}

    sweep = dataclasses.replace(_sweep(), per_class_score_threshold=0.05)
    apply_thresholds(config, sweep, "thresholds/per_class_AP_iou_f1")
    assert config["MODEL"]["ROI_HEADS"]["SCORE_THRESH_TEST"] == 0.05
    assert config["MODEL"]["ROI_ATTRIBUTE_HEAD"]["CLASS_SCORE_THRESH"] == [0.5, 0.5, 0.3]
