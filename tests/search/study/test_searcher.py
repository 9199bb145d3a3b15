"""search.study.StudySearch: a trial's value in the study is its ranked (best) report, as results.csv ranks it.

Driven as Tune drives a searcher (suggest; one on_trial_result per report but the last; on_trial_complete with the
last), against a real SQLite study, read back with Optuna's own API.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.space import DefineByRun, load_space
from search.study import StudySearch, default_storage_url, open_storage

REPO = Path(__file__).resolve().parents[3]
METRIC = "thresholds/AP_iou_f1"
SPEC = load_space(REPO / "spaces" / "smoke.yaml")


def _searcher(tmp_path: Path, metric: str | list[str] = METRIC, mode: str | list[str] = "max") -> StudySearch:
    storage = open_storage(default_storage_url(tmp_path))
    return StudySearch(space=DefineByRun(SPEC.params), metric=metric, mode=mode,
                       sampler=optuna.samplers.RandomSampler(seed=0), storage=storage, study_name="s", max_reports=4)


def _run(searcher: StudySearch, trial_id: str, reports: list[dict[str, float]]) -> None:
    assert searcher.suggest(trial_id) is not None
    for step, values in enumerate(reports[:-1], start=1):
        searcher.on_trial_result(trial_id, {**values, "training_iteration": step})
    searcher.on_trial_complete(trial_id, {**reports[-1], "training_iteration": len(reports)})


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_complete_trial_stands_for_its_best_report(tmp_path: Path, mode: str) -> None:
    searcher = _searcher(tmp_path, mode=mode)
    # The smoke trial t002 of the issue: best report 3 (0.01618), last 0.00757.
    values = [0.00034, 0.00218, 0.01618, 0.00757]
    _run(searcher, "a", [{METRIC: v} for v in values])
    (trial,) = optuna.load_study(study_name="s", storage=default_storage_url(tmp_path)).trials
    assert trial.state == optuna.trial.TrialState.COMPLETE
    best = max(values) if mode == "max" else min(values)
    assert trial.value == best
    assert trial.user_attrs["ranked_report"] == values.index(best) + 1
    # Its intermediate value at each report is its value so far (what it would stand for had it stopped there).
    so_far = [max(values[: i + 1]) if mode == "max" else min(values[: i + 1]) for i in range(len(values))]
    assert list(trial.intermediate_values.items()) == list(enumerate(so_far, start=1))


def test_ties_keep_the_first_report_and_the_last_report_can_win(tmp_path: Path) -> None:
    searcher = _searcher(tmp_path)
    _run(searcher, "tie", [{METRIC: v} for v in (0.1, 0.2, 0.2, 0.05)])
    _run(searcher, "last", [{METRIC: v} for v in (0.1, 0.2, 0.3, 0.4)])
    study = optuna.load_study(study_name="s", storage=default_storage_url(tmp_path))
    by_id = {t.user_attrs["trial_id"]: t for t in study.trials}
    assert (by_id["tie"].value, by_id["tie"].user_attrs["ranked_report"]) == (0.2, 2)
    assert (by_id["last"].value, by_id["last"].user_attrs["ranked_report"]) == (0.4, 4)


def test_a_stopped_trial_is_pruned_at_its_best_report(tmp_path: Path) -> None:
    searcher = _searcher(tmp_path)
    _run(searcher, "p", [{METRIC: 0.3}, {METRIC: 0.1}])
    (trial,) = optuna.load_study(study_name="s", storage=default_storage_url(tmp_path)).trials
    # Optuna gives a PRUNED trial its last intermediate value: the value so far, 0.3, not the raw 0.1.
    assert (trial.state, trial.value, trial.user_attrs["ranked_report"]) == (optuna.trial.TrialState.PRUNED, 0.3, 1)


def test_a_resumed_searcher_counts_the_reports_made_before(tmp_path: Path) -> None:
    """After --resume a new StudySearch object continues a running trial: its best report before counts."""
    first = _searcher(tmp_path)
    assert first.suggest("r") is not None
    first.on_trial_result("r", {METRIC: 0.5, "training_iteration": 1})
    second = _searcher(tmp_path)  # a fresh searcher on the same study, given the running trial as Tune would
    second._ot_trials["r"] = first._ot_trials["r"]
    for step, value in ((2, 0.2), (3, 0.3)):
        second.on_trial_result("r", {METRIC: value, "training_iteration": step})
    second.on_trial_complete("r", {METRIC: 0.4, "training_iteration": 4})
    (trial,) = optuna.load_study(study_name="s", storage=default_storage_url(tmp_path)).trials
    assert (trial.value, trial.user_attrs["ranked_report"]) == (0.5, 1)
    assert list(trial.intermediate_values.values()) == [0.5, 0.5, 0.5, 0.5]


def test_several_objectives_take_the_values_at_the_first_objectives_best_report(tmp_path: Path) -> None:
    metrics = [METRIC, "time/inference_ms_per_image"]
    searcher = _searcher(tmp_path, metric=metrics, mode=["max", "min"])
    reports = [{METRIC: 0.1, metrics[1]: 9.0}, {METRIC: 0.3, metrics[1]: 12.0},
               {METRIC: 0.2, metrics[1]: 5.0}, {METRIC: 0.25, metrics[1]: 4.0}]
    _run(searcher, "m", reports)
    (trial,) = optuna.load_study(study_name="s", storage=default_storage_url(tmp_path)).trials
    assert trial.values == [0.3, 12.0]
    assert trial.user_attrs["ranked_report"] == 2
