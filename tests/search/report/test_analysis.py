"""The analysis after a search: Optuna's plots, the threshold heat map and summary.md, from a real SQLite study."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from search.report import write_analysis
from search.study import default_storage_url, open_storage

METRIC = "thresholds/AP_iou_f1"
LOSS, DEPTH = CategoricalDistribution(["bce", "focal"]), CategoricalDistribution([1, 2])
LR, GAMMA = FloatDistribution(0.003, 0.015, log=True), FloatDistribution(0.5, 2.5)


def _trial(state: TrialState, params: dict, reports: dict[int, float], value: float | None = None,
           trial_id: str = "") -> optuna.trial.FrozenTrial:
    distributions = {"loss": LOSS, "head_depth": DEPTH, "lr": LR, "focal_gamma": GAMMA}
    return create_trial(state=state, params=params, distributions={k: distributions[k] for k in params},
                        value=value, intermediate_values=reports, user_attrs={"trial_id": trial_id})


def _study(folder: Path, trials: list[optuna.trial.FrozenTrial], directions: tuple[str, ...] = ("maximize",)) -> str:
    url = default_storage_url(folder)
    study = optuna.create_study(storage=open_storage(url), study_name="exp", directions=list(directions))
    study.add_trials(trials)
    return url


def _winner_table() -> pd.DataFrame:
    """results.csv's columns (search.report.results.results_table): the winner is the confirmation re-run (seed 1) of
    search trial id2's config, confirmed over 2 seeds."""
    params = {"param/loss": "focal", "param/head_depth": 2, "param/lr": 0.012, "param/focal_gamma": 2.0}
    common = {"error": "", "reports": 3, "mean": 0.33, "std": 0.028284, "seeds": 2, "in_mean": True,
              "config": '{"focal"...}', **params}
    return pd.DataFrame([
        {"rank": 1, "stage": "confirm", "trial": "c001_cx1", "trial_id": "cx1", "seed": 1, "status": "TERMINATED",
         METRIC: 0.36, "best_report": 3, **common},
        {"rank": 2, "stage": "search", "trial": "t003_id2", "trial_id": "id2", "seed": 0, "status": "TERMINATED",
         METRIC: 0.35, "best_report": 2, **common},
    ])


def _warned(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def _analyse(folder: Path, url: str, table: pd.DataFrame | None = None, thresholds: Path | None = None) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = write_analysis(url, "exp", pd.DataFrame() if table is None else table, folder, metric=METRIC,
                              param_names=["loss", "head_depth", "head_hidden", "focal_gamma", "lr"],
                              thresholds_file=thresholds)
    # Optuna marks its matplotlib plots experimental; that warning never reaches the user.
    assert not [w for w in caught if issubclass(w.category, optuna.exceptions.ExperimentalWarning)]
    assert path == folder / "summary.md"
    text = path.read_text()
    for link in re.findall(r"\]\((plots/[^)]+)\)", text):
        assert (folder / link).stat().st_size > 1000, link
    return text


def test_summary_answers_each_choice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Per level: trials, full-budget / ASHA-stopped counts, best and median (each trial at its best report),
    best full-budget; the winner with its confirmed mean +- std; importances; linked plots."""
    url = _study(tmp_path, [
        _trial(TrialState.COMPLETE, {"loss": "bce", "head_depth": 1, "lr": 0.004}, {1: 0.1, 2: 0.2}, 0.2, "id0"),
        _trial(TrialState.PRUNED, {"loss": "focal", "head_depth": 1, "focal_gamma": 1.0, "lr": 0.01}, {1: 0.15}),
        # Its best report (0.35) is not its last (0.30): the best report counts, as results.csv ranks it.
        _trial(TrialState.COMPLETE, {"loss": "focal", "head_depth": 2, "focal_gamma": 2.0, "lr": 0.012},
               {1: 0.2, 2: 0.35, 3: 0.30}, 0.30, "id2"),
        _trial(TrialState.FAIL, {"loss": "bce", "head_depth": 2, "lr": 0.005}, {}),
        _trial(TrialState.PRUNED, {"loss": "focal", "head_depth": 2, "focal_gamma": 0.6, "lr": 0.0035}, {1: 0.05}),
    ])
    with caplog.at_level(logging.WARNING):
        text = _analyse(tmp_path, url, _winner_table())
    assert not _warned(caplog), caplog.text
    assert "5 trials: 2 ran the full budget, 2 were stopped by ASHA, 1 failed" in text
    # loss: bce = trial 0 only; focal = trials 1, 2, 4 (0.15, 0.35, 0.05); the failed trial counts nowhere.
    assert "| bce | 1 | 1 | 0 | 0.2 | 0.2 | 0.2 |" in text
    assert "| focal | 3 | 1 | 2 | 0.35 | 0.15 | 0.35 |" in text
    assert "| 1 | 2 | 1 | 1 | 0.2 | 0.175 | 0.2 |" in text  # head_depth 1: 0.2 (full), 0.15 (stopped)
    # lr in three bins of equal width in log space; 0.004 and 0.0035 fall in the first.
    assert "| [0.003, 0.00513) | 2 | 1 | 1 | 0.2 | 0.125 | 0.2 |" in text
    assert "Sampled in 3 of 4 trials (a conditional parameter)." in text  # focal_gamma
    assert re.search(r"### head_hidden\n\nNever sampled", text)
    # The search trial by the name its folder, results.csv and the plots give it; optuna-dashboard's number too.
    assert ("Trial `c001_cx1` (confirm stage, seed 1, the config of search trial `t003_id2`, study trial 2 in "
            "optuna-dashboard): "
            "**thresholds/AP_iou_f1 = 0.36** at its best report (3 of 3)") in text
    assert "mean +- std **0.33 +- 0.02828**" in text and "| loss | focal |" in text
    assert "A mean over 2 seed(s) is a hint of the seed noise, not a measurement of it" in text
    importances = text.split("## Parameter importances")[1].split("##")[0]
    assert all(f"| {name} |" in importances for name in ("loss", "head_depth", "lr"))
    for plot in ("history.png", "parallel_coordinate.png", "importances.png", "intermediate_values.png",
                 "slices/loss.png", "slices/lr.png"):
        assert f"(plots/{plot})" in text, plot
    assert f"`optuna-dashboard {url}`" in text


def _winner_thresholds(folder: Path) -> Path:
    """best/thresholds.json as a trial's evaluator and search.report.bundle write it (chosen: score 0.3, attr. 0.5)."""
    from fashion_core.bundle_format import write_thresholds
    from fashion_core.evaluation.thresholds import ThresholdSweep
    from search.report import apply_thresholds

    sweep = ThresholdSweep("AP_iou_f1", np.array([0.05, 0.3, 0.5]), np.array([0.3, 0.5, 0.7]),
                           np.array([[0.1, 0.2, 0.15], [0.12, 0.25, 0.18], [0.05, 0.08, 0.07]]),
                           np.array([0.21, 0.26, 0.09]), {}, ({}, {}, {})).to_table(class_ids=[1, 2])
    table = apply_thresholds({"MODEL": {"ROI_HEADS": {}, "ROI_ATTRIBUTE_HEAD": {}}}, sweep, METRIC)
    path = folder / "best"
    path.mkdir(parents=True)
    return write_thresholds(path, table)


def test_threshold_heat_map_outlines_the_chosen_cell(tmp_path: Path) -> None:
    import matplotlib.image

    from search.report import draw_thresholds

    assert not draw_thresholds(tmp_path / "missing.json", tmp_path / "thresholds.png")
    assert draw_thresholds(_winner_thresholds(tmp_path), tmp_path / "thresholds.png")
    pixels = matplotlib.image.imread(tmp_path / "thresholds.png")[..., :3]
    red = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.1) & (pixels[..., 2] < 0.1)
    rows = np.nonzero(red)[0]
    # Two outlines (the cell, and the per-class row it applies), both in the middle row of three.
    assert red.sum() > 100
    assert pixels.shape[0] * 0.3 < rows.mean() < pixels.shape[0] * 0.7


@pytest.mark.slow  # about 13 s of CPU: a slice per parameter of smoke.yaml
def test_plots_of_a_smoke_study(smoke_study, caplog: pytest.LogCaptureFixture) -> None:
    """A study of smoke.yaml's space as the search records it: every plot of search.report.plots is written."""
    thresholds = _winner_thresholds(smoke_study.folder)
    with caplog.at_level(logging.WARNING):
        path = write_analysis(smoke_study.url, "smoke", pd.DataFrame(), smoke_study.folder, metric=METRIC,
                              param_names=[], thresholds_file=thresholds)
    assert path is not None and not _warned(caplog), caplog.text
    plots = smoke_study.folder / "plots"
    names = {p.relative_to(plots).as_posix() for p in plots.rglob("*.png")}
    sampled = {name for t in smoke_study.study.trials if t.state == TrialState.COMPLETE for name in t.params}
    assert names == {"history.png", "parallel_coordinate.png", "importances.png", "intermediate_values.png",
                     "thresholds.png", *[f"slices/{n}.png" for n in sampled]}
    assert "thresholds of the winner](plots/thresholds.png)" in path.read_text()


def test_summary_says_when_a_chosen_threshold_sits_on_the_edge_of_its_grid(tmp_path: Path) -> None:
    from fashion_core.bundle_format import write_thresholds
    from fashion_core.evaluation.thresholds import ThresholdSweep
    from search.report import apply_thresholds

    url = _study(tmp_path, [_trial(TrialState.COMPLETE, {"loss": "bce", "head_depth": 1, "lr": 0.004}, {1: 0.2},
                                   0.2, "cx1")])
    inside = _winner_thresholds(tmp_path / "inside")  # the middle cell of both grids
    assert "of the grid" not in _analyse(tmp_path, url, _winner_table(), inside)
    # The best cell is the lowest class-score and the highest attribute threshold.
    sweep = ThresholdSweep("AP_iou_f1", np.array([0.05, 0.3, 0.5]), np.array([0.3, 0.5, 0.7]),
                           np.array([[0.1, 0.2, 0.3], [0.12, 0.25, 0.18], [0.05, 0.08, 0.07]]),
                           np.array([0.31, 0.26, 0.09]), {}, ({}, {}, {})).to_table(class_ids=[1, 2])
    (tmp_path / "edge").mkdir()
    edge = write_thresholds(tmp_path / "edge", apply_thresholds({"MODEL": {"ROI_HEADS": {}, "ROI_ATTRIBUTE_HEAD": {}}},
                                                                sweep, METRIC))
    text = _analyse(tmp_path, url, _winner_table(), edge)
    assert ("The chosen class-score threshold 0.05 is the lowest of the grid [0.05, 0.3, 0.5]: a lower one may "
            "score better (widen `experiment.thresholds.score_grid`).") in text
    assert "The chosen attribute threshold 0.7 is the highest of the grid [0.3, 0.5, 0.7]" in text


def _one(state: TrialState) -> optuna.trial.FrozenTrial:
    reports = {1: 0.1} if state != TrialState.FAIL else {}
    return _trial(state, {"loss": "bce", "head_depth": 1, "lr": 0.004}, reports,
                  0.1 if state == TrialState.COMPLETE else None)


@pytest.mark.parametrize("case, trials, left_out", [
    ("no trial", [], "no trial ran the full budget"),
    ("one full-budget trial", [_one(TrialState.COMPLETE)], "importances: need at least 2 full-budget trials"),
    ("all failed", [_one(TrialState.FAIL)] * 2, "intermediate values: no trial reported a value"),
    ("all stopped", [_one(TrialState.PRUNED)] * 2, "no trial ran the full budget"),
    # One level of every parameter among the trials: Optuna's slices have a single point per axis.
    ("a single level", [_one(TrialState.COMPLETE)] * 3, None),
])
def test_degenerate_studies_leave_a_note(tmp_path: Path, case: str, trials: list, left_out: str | None,
                                         caplog: pytest.LogCaptureFixture) -> None:
    url = _study(tmp_path, trials)
    with caplog.at_level(logging.WARNING):
        text = _analyse(tmp_path, url)
    assert not _warned(caplog), caplog.text
    assert "No trial produced a value: no winner." in text
    if left_out:
        assert left_out in text.split("## Notes")[1], text
    else:
        assert (tmp_path / "plots" / "slices" / "loss.png").is_file()


def test_two_objectives_are_plotted_on_the_first(tmp_path: Path) -> None:
    runs = [("bce", 0.004, 0.1, 9.0), ("focal", 0.01, 0.3, 12.0), ("focal", 0.006, 0.2, 8.0)]
    trials = [create_trial(params={"loss": loss, "lr": lr}, distributions={"loss": LOSS, "lr": LR},
                           values=[value, ms], state=TrialState.COMPLETE) for loss, lr, value, ms in runs]
    text = _analyse(tmp_path, _study(tmp_path, trials, ("maximize", "minimize")))
    assert "| focal | 2 | 2 | 0 | 0.3 | 0.25 | 0.3 |" in text
    assert "## Parameter importances" in text and (tmp_path / "plots" / "history.png").is_file()


def test_a_broken_study_is_one_log_line_not_a_failed_search(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert write_analysis(default_storage_url(tmp_path), "missing", pd.DataFrame(), tmp_path, metric=METRIC,
                              param_names=[], thresholds_file=None) is None
    assert len(_warned(caplog)) == 1 and "summary.md and plots not written" in caplog.text


def test_plots_name_trials_as_the_folders_do() -> None:
    """Optuna's "Trial0" legend entries and "Trial" axes say t001, t002 ... (the names of the folders, results.csv
    and TensorBoard), not Optuna's 0-based numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import optuna.visualization.matplotlib as ovm

    from search.report.plots import _name_trials

    trials = [_trial(TrialState.COMPLETE, {"lr": 0.004 + 0.001 * k}, {1: 0.1 * k, 2: 0.2 * k}, value=0.2 * k)
              for k in range(3)]
    study = optuna.create_study(direction="maximize")
    study.add_trials(trials)
    names = {0: "t001", 1: "t002", 2: "t003"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        curves = ovm.plot_intermediate_values(study)
        history = ovm.plot_optimization_history(study)
    _name_trials(curves.figure, names)
    assert sorted(t.get_text() for t in curves.get_legend().get_texts()) == ["t001", "t002", "t003"]
    _name_trials(history.figure, names)
    assert history.get_xlabel() == "trial"
    assert [history.xaxis.get_major_formatter()(k, None) for k in (0, 1, 2, 0.5)] == ["t001", "t002", "t003", ""]
