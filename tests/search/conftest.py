"""A finished smoke-shaped Optuna study in SQLite, without training: what the analysis and the dashboard read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest

from search.space import DefineByRun, load_space
from search.study import StudySearch, default_storage_url, open_storage

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "spaces" / "smoke.yaml"
METRIC = "thresholds/AP_iou_f1"


@dataclass(frozen=True)
class FinishedStudy:
    url: str
    study: optuna.Study
    folder: Path


@pytest.fixture
def smoke_study(tmp_path: Path) -> FinishedStudy:
    """8 trials of ``spaces/smoke.yaml`` recorded by the search's own searcher (:class:`search.study.StudySearch`,
    as Tune drives it: suggest, one result per report, the last result at completion), without training:
    every third trial runs all 4 reports (COMPLETE), trial 5 diverges (FAIL), the others stop after 2 (PRUNED,
    as after ASHA). The value is a fixed function of the parameters."""
    spec = load_space(SMOKE)
    url = default_storage_url(tmp_path)
    searcher = StudySearch(space=DefineByRun(spec.params), metric=METRIC, mode="max",
                           sampler=optuna.samplers.RandomSampler(seed=0), storage=open_storage(url),
                           study_name="smoke", max_reports=4)
    for i in range(8):
        trial_id = f"id{i:03d}"
        p = searcher.suggest(trial_id)
        assert p is not None
        if i == 5:
            searcher.on_trial_complete(trial_id, {METRIC: 0.0, "training_iteration": 1, "diverged": True,
                                                  "diverged_reason": "non-finite loss"})
            continue
        final = 0.02 * p["head_depth"] + (0.03 if p["loss"] == "focal" else 0.0) + math.log(p["lr"] / 0.003) / 100
        reports = 4 if i % 3 == 0 else 2
        for step in range(1, reports):
            searcher.on_trial_result(trial_id, {METRIC: final * step / 4, "training_iteration": step})
        searcher.on_trial_complete(trial_id, {METRIC: final * reports / 4, "training_iteration": reports})
    return FinishedStudy(url, optuna.load_study(study_name="smoke", storage=url), tmp_path)
