"""bench/search_efficiency.py's arithmetic, on synthetic trial records: the curve, the medians, the target."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("search_efficiency", REPO / "bench" / "search_efficiency.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

STEP = 25  # iterations per report


def _trial(start: int, values: list[float | None], config: Any = 0) -> dict[str, Any]:
    """A trial whose k-th report (k = 1, 2, ...) comes at ``start + 10 k`` seconds."""
    reports = [{"timestamp": start + 10 * k, "training_iteration": k, "iteration": STEP * k, "value": v}
               for k, v in enumerate(values, start=1)]
    return {"config": config, "reports": reports}


def test_curve_counts_every_report_and_only_full_budget_values() -> None:
    # a: 2 reports (stopped early, a high low-fidelity value); b: 3 reports (full budget), interleaved with a.
    trials = [_trial(0, [0.9, 0.8]), _trial(5, [0.1, 0.4, 0.3])]
    curve = bench.best_curve(trials, full_budget=3, mode="max")
    # Report order: a1 (10 s), b1 (15), a2 (20), b2 (25), b3 (35); b's value is its best report, 0.4.
    assert curve == [(25, None), (50, None), (75, None), (100, None), (125, 0.4)]


def test_curve_skips_non_finite_and_keeps_the_best() -> None:
    trials = [_trial(0, [0.1, 0.5]), _trial(100, [0.2, None]), _trial(200, [0.3, 0.4])]
    curve = bench.best_curve(trials, full_budget=2, mode="max")
    assert [v for _, v in curve] == [None, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert curve[-1][0] == 6 * STEP
    # Lower is better: each trial stands for its best (lowest) report, 0.1 for the first.
    assert bench.best_curve(trials, full_budget=2, mode="min")[-1][1] == 0.1


def test_median_curve_counts_missing_as_worst_and_extends_ended_runs() -> None:
    short, long, late = [(25, 0.2), (50, 0.4)], [(25, None), (50, None), (75, 0.6), (100, 0.8)], [(100, 0.1)]
    # The lower median of three: the worst until two seeds have a value.
    assert bench.median_curve([short, long, late], [25, 50, 75, 100], "max") == [None, None, 0.4, 0.4]
    assert bench.budget_to_reach([short, long, late], 0.4, "max") == 75
    assert bench.budget_to_reach([short, long, late], 0.9, "max") is None


def _run(seed: int, values_per_trial: list[list[float]]) -> dict[str, Any]:
    return {"seed": seed, "trials": [_trial(100 * i, v) for i, v in enumerate(values_per_trial)]}


@pytest.mark.parametrize(("tpe_trials", "passed", "share"), [
    # Random's final best is 0.5 after 4 reports (100 iterations); TPE gets 0.6 after 2 (50): 0.5x.
    ([[0.4, 0.6], [0.1, 0.2]], True, 0.5),
    # TPE gets there only with its second trial: 4 reports, 1.0x.
    ([[0.1, 0.2], [0.4, 0.5]], False, 1.0),
    # Never.
    ([[0.1, 0.2], [0.1, 0.3]], False, None),
])
def test_target(tpe_trials: list[list[float]], passed: bool, share: float | None) -> None:
    runs = {"default": [_run(0, tpe_trials)], "random_asha": [_run(0, [[0.1, 0.3], [0.2, 0.5]])]}
    target = bench.summarize(runs, full_budget=2, mode="max")["target"]
    assert target["checked"] and target["random_final_best"] == 0.5 and target["random_iterations"] == 100
    assert target["passed"] is passed
    assert target["share"] == share


def test_target_needs_both_methods() -> None:
    summary = bench.summarize({"tpe_fifo": [_run(0, [[0.1, 0.3]])]}, full_budget=2, mode="max")
    assert summary["target"] == {"checked": False}
    assert summary["random_final_best"] is None
    assert summary["methods"]["tpe_fifo"]["final_best_median"] == 0.3


def test_methods_are_the_replays_spaces() -> None:
    """A live method is the space with the replay's settings written in (search.replay.method_space)."""
    spec = bench.method_spec(str(bench.DEFAULT_SPACE), "random_asha", 16, seed=3)
    assert (spec.experiment.searcher.sampler, spec.experiment.num_samples, spec.experiment.seed) == ("random", 16, 3)
    assert bench.method_spec(str(bench.DEFAULT_SPACE), "tpe_fifo", None).experiment.scheduler == "fifo"


def test_report_keeps_the_seeds_every_method_has(tmp_path: Path) -> None:
    runs = {"default": [_run(0, [[0.1]]), _run(1, [[0.2]])], "random_asha": [_run(0, [[0.3]])]}
    path = tmp_path / "partial.json"
    path.write_text(json.dumps({"partial": True, "runs": runs}))
    loaded = bench.load_runs(path)
    assert [r["seed"] for r in loaded["default"]] == [0] and [r["seed"] for r in loaded["random_asha"]] == [0]


def test_rung_agreement() -> None:
    # Report 1 ranks the trials as report 3 does, report 2 reverses them; the stopped trial is left out.
    run = {"seed": 0, "trials": [_trial(0, [0.1, 0.9, 0.1]), _trial(0, [0.2, 0.8, 0.2]), _trial(0, [0.3, 0.7, 0.3]),
                                 _trial(0, [0.9])]}
    assert bench.rung_agreement([run], full_budget=3) == {1: pytest.approx(1.0), 2: pytest.approx(-1.0)}
    flat = {"seed": 0, "trials": [_trial(0, [0.0, v]) for v in (0.1, 0.2, 0.3)]}
    assert bench.rung_agreement([flat], full_budget=2) == {1: None}


@pytest.mark.slow
def test_the_prediction_is_the_replays_document() -> None:
    """--predict replays the same space and methods on the committed table with the replay's own defaults
    (its fitted surrogate included): the document python -m search.replay writes."""
    doc = bench.predict(REPO / "bench" / "curves" / "tiny_cpu.csv.gz", str(REPO / "bench" / "curves" / "space.yaml"),
                        ["random_asha"], num_samples=4, workers=1)
    assert doc["repetitions"] == 100 and doc["num_samples"] == 4 and set(doc["methods"]) == {"random_asha"}
    assert doc["surrogate"]["fitted"] is True and doc["surrogate"]["configs"] == 100
