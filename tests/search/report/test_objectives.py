"""Several objectives: the space file's ``experiment.objectives``, the Pareto column, the study's records.

The end-to-end two-objective search is in test_objectives_e2e.py; these are the fast parts.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest

from search.checks import check_metric
from search.report import PARETO_COLUMN, SEARCH, pareto_front, plot_pareto, results_table
from search.run import apply_overrides
from search.space import DefineByRun, Objective, SpaceError, parse_space
from search.study import StudySearch

AP, MS = "thresholds/AP_iou_f1", "time/inference_ms_per_image"
TWO = [{"metric": AP, "mode": "max"}, {"metric": MS, "mode": "min"}]
LR = {"lr": {"key": "SOLVER.BASE_LR", "type": "loguniform", "low": 1e-3, "high": 1e-1}}


def _parse(**experiment: Any) -> Any:
    raw = {"experiment": {"thresholds": {"mode": "posthoc"}, **experiment}, "params": LR}
    return parse_space(raw, source="s.yaml")


def test_objectives_make_a_multi_objective_search_ranked_by_the_first() -> None:
    e = _parse(objectives=TWO).experiment
    assert e.objectives == (Objective(AP, "max"), Objective(MS, "min"))
    assert (e.metric, e.mode) == (AP, "max") and e.all_objectives == e.objectives


def test_single_form_and_a_one_entry_list_are_the_same_search() -> None:
    single = _parse(metric=MS, mode="min").experiment
    listed = _parse(objectives=[{"metric": MS, "mode": "min"}]).experiment
    assert single == listed and single.objectives == () and single.all_objectives == (Objective(MS, "min"),)


@pytest.mark.parametrize(
    ("experiment", "message"),
    [
        ({"metric": [AP, MS]}, "experiment.metric: expected one metric name (a string), got a list"),
        ({"mode": ["max", "min"]}, "experiment.mode: expected one of ['max', 'min'], got a list"),
        ({"objectives": TWO, "metric": AP}, "experiment.metric: give either experiment.objectives or"),
        ({"objectives": TWO, "mode": "max"}, "experiment.mode: give either experiment.objectives or"),
        ({"objectives": []}, "experiment.objectives: expected a non-empty list of {metric: ..., mode: max or min}"),
        ({"objectives": AP}, "experiment.objectives: expected a non-empty list"),
        ({"objectives": [AP, MS]}, "experiment.objectives[0]: expected a mapping, got str"),
        ({"objectives": [TWO[0], {"metric": MS}]}, "experiment.objectives[1].mode: missing: one of ['max', 'min']"),
        ({"objectives": [TWO[0], {"mode": "min"}]}, "experiment.objectives[1].metric: missing"),
        ({"objectives": [TWO[0], {"metric": MS, "mode": "minimize"}]}, "experiment.objectives[1].mode: expected one"),
        ({"objectives": [TWO[0], {"metric": 3, "mode": "min"}]}, "experiment.objectives[1].metric: expected one"),
        ({"objectives": [TWO[0], {**TWO[1], "weight": 2}]}, "experiment.objectives[1].weight: unknown key"),
        ({"objectives": [TWO[0], TWO[0]]}, "experiment.objectives[1].metric: 'thresholds/AP_iou_f1' is already"),
    ],
)
def test_bad_objectives_are_one_line_naming_the_key(experiment: dict[str, Any], message: str) -> None:
    with pytest.raises(SpaceError) as info:
        _parse(**experiment)
    text = str(info.value)
    assert text.startswith("s.yaml: ") and message in text and "\n" not in text, text


def test_a_list_under_metric_points_at_objectives() -> None:
    with pytest.raises(SpaceError, match=r"several objectives go under experiment.objectives: \[\{metric"):
        _parse(metric=[AP, MS])


def test_command_line_overrides_keep_the_objectives() -> None:
    raw = {"experiment": {"thresholds": {"mode": "posthoc"}, "objectives": TWO}, "params": LR}
    spec = parse_space(raw, source="s.yaml")
    args = argparse.Namespace(name="other", num_samples=7, max_concurrent=None, cpus_per_trial=None,
                              gpus_per_trial=None)
    e = parse_space(apply_overrides(raw, args), source="s.yaml").experiment
    assert e.objectives == spec.experiment.objectives and (e.name, e.num_samples) == ("other", 7)


def test_preflight_accepts_time_and_size_and_names_a_misspelled_objective() -> None:
    check_metric(_parse(objectives=[*TWO, {"metric": "model/params", "mode": "min"}]))
    with pytest.raises(SpaceError) as info:
        check_metric(_parse(objectives=[TWO[0], {"metric": "time/inference_ms", "mode": "min"}]))
    text = str(info.value)
    assert "experiment.objectives[1].metric: 'time/inference_ms' is not a reported metric" in text
    assert "did you mean 'time/inference_ms_per_image'" in text


def test_pareto_front_of_a_small_table() -> None:
    table = pd.DataFrame({
        AP: [0.50, 0.40, 0.30, 0.45, 0.50, math.nan, 0.20],
        MS: [90.0, 40.0, 40.0, 95.0, 90.0, 10.0, 10.0],
    }, index=list("abcdefg"))
    front = pareto_front(table, [Objective(AP, "max"), Objective(MS, "min")])
    # a and e tie (both on the front); b beats c (same time, more AP); d is beaten by a; f has no AP;
    # g is the fastest of those with values.
    assert front[front].index.tolist() == ["a", "b", "e", "g"]
    # Directions matter: minimizing AP as well, the fastest low-AP trial dominates.
    low = pareto_front(table, [Objective(AP, "min"), Objective(MS, "min")])
    assert low[low].index.tolist() == ["g"]


class _Trial:
    """The fields of Tune's ``Result`` that the ranking reads, from a list of reports."""

    def __init__(self, name: str, reports: list[dict[str, float]]) -> None:
        self.path, self.config, self.error = name, {"lr": 0.01}, None
        self.metrics_dataframe = pd.DataFrame([{**r, "training_iteration": i + 1} for i, r in enumerate(reports)])
        self.metrics = {**self.metrics_dataframe.iloc[-1].to_dict(), "trial_id": name}


def test_results_table_marks_the_front_at_each_trials_ranked_report() -> None:
    search: Any = [
        # Its best AP is at report 1 (at 50 ms); its last report is faster but ranks nothing.
        _Trial("a", [{AP: 0.5, MS: 50.0}, {AP: 0.4, MS: 5.0}]),
        _Trial("b", [{AP: 0.3, MS: 20.0}, {AP: 0.35, MS: 20.0}]),
        _Trial("c", [{AP: 0.2, MS: 30.0}]),
    ]
    objectives = (Objective(AP, "max"), Objective(MS, "min"))
    table = results_table([(SEARCH, search)], AP, "max", ["lr"], seed=0, full_budget=2, objectives=objectives)
    by_trial = table.set_index("trial_id")
    assert table["trial_id"].tolist() == ["a", "b", "c"]  # ranked by the first objective
    assert by_trial[MS].tolist() == [50.0, 20.0, 30.0]
    assert by_trial[PARETO_COLUMN].tolist() == [True, True, False]
    assert table.columns.tolist().index(PARETO_COLUMN) == table.columns.tolist().index(AP) + 1
    single = results_table([(SEARCH, search)], AP, "max", ["lr"], seed=0, full_budget=2)
    assert PARETO_COLUMN not in single


def _searcher(tmp_path: Path) -> StudySearch:
    return StudySearch(
        space=DefineByRun(parse_space({"params": LR}).params), metric=[AP, MS], mode=["max", "min"],
        sampler=optuna.samplers.TPESampler(seed=0), storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/s.db"),
        study_name="two", max_reports=2,
    )


def test_study_records_stopped_trials_as_pruned_with_their_values_as_attributes(tmp_path: Path) -> None:
    searcher = _searcher(tmp_path)
    for trial_id in ("done", "stopped", "failed"):
        searcher.suggest(trial_id)
    first = {AP: 0.3, MS: 40.0, "training_iteration": 1}
    for trial_id in ("done", "stopped"):
        searcher.on_trial_result(trial_id, first)
    searcher.on_trial_complete("done", {AP: 0.4, MS: 38.0, "training_iteration": 2})
    searcher.on_trial_complete("stopped", first)
    searcher.on_trial_complete("failed", None, error=True)
    study = optuna.load_study(study_name="two", storage=f"sqlite:///{tmp_path}/s.db")
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert study.metric_names == [AP, MS]
    done, stopped, failed = study.get_trials()
    assert done.state == optuna.trial.TrialState.COMPLETE and done.values == [0.4, 38.0]
    # Optuna keeps no intermediate values for several objectives: PRUNED, the values at the stop kept aside.
    assert stopped.state == optuna.trial.TrialState.PRUNED and stopped.values is None
    assert stopped.intermediate_values == {}
    assert stopped.user_attrs == {
        "reports": 1, "values_at_stop": [0.3, 40.0], "trial_id": "stopped",
        # The values the trial stands for: its best report by the first objective.
        "ranked_report": 1, "ranked_values": [0.3, 40.0],
    }
    assert done.user_attrs["ranked_report"] == 2 and done.user_attrs["ranked_values"] == [0.4, 38.0]
    assert failed.state == optuna.trial.TrialState.FAIL and failed.user_attrs["fail_reason"] == "the trial raised"


def test_pareto_plot_of_a_two_objective_study(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    assert not plot_pareto(study, tmp_path / "empty.png") and not (tmp_path / "empty.png").exists()
    for ap, ms in ((0.5, 50.0), (0.3, 20.0), (0.2, 30.0)):
        study.add_trial(optuna.trial.create_trial(values=[ap, ms]))
    assert plot_pareto(study, tmp_path / "plots" / "pareto.png")
    assert (tmp_path / "plots" / "pareto.png").stat().st_size > 1000


def test_warm_start_takes_a_two_objective_study_only_into_the_same_objectives(tmp_path: Path) -> None:
    from search.study import WarmStartError, plan_warm_start

    searcher = _searcher(tmp_path)
    for trial_id in ("done", "stopped"):
        searcher.suggest(trial_id)
    searcher.on_trial_complete("done", {AP: 0.4, MS: 38.0, "training_iteration": 2})
    searcher.on_trial_complete("stopped", {AP: 0.3, MS: 40.0, "training_iteration": 1})
    source, params = f"sqlite:///{tmp_path}/s.db#two", parse_space({"params": LR}).params
    plan = plan_warm_start(source, params, ["max", "min"], [AP, MS])
    assert [t.state for t in plan.copies] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    assert plan.copies[0].values == [0.4, 38.0] and plan.copies[1].user_attrs["values_at_stop"] == [0.3, 40.0]
    with pytest.raises(WarmStartError, match="maximizes?/minimize"):
        plan_warm_start(source, params, ["max"], [AP])
    with pytest.raises(WarmStartError, match="optimized thresholds/AP_iou_f1, time/inference_ms_per_image"):
        plan_warm_start(source, params, ["max", "min"], [AP, "model/params"])


def test_summary_counts_stopped_trials_of_a_multi_objective_study() -> None:
    """A stopped trial of a multi-objective study has no intermediate values: its value is values_at_stop."""
    from search.report import scored_trials

    study = optuna.create_study(directions=["maximize", "minimize"])
    dist = {"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, values=[0.4, 38.0],
                                              params={"lr": 0.01}, distributions=dist))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, params={"lr": 0.02},
                                              distributions=dist,
                                              user_attrs={"reports": 1, "values_at_stop": [0.3, 40.0]}))
    assert sorted((s.value, s.full) for s in scored_trials(study)) == [(0.3, False), (0.4, True)]
