"""A finished smoke-shaped Optuna study in SQLite, without training: what the analysis and the dashboard read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest

from search.sampling import DefineByRun
from search.space import load_space
from search.study import default_storage_url, open_storage

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "spaces" / "smoke.yaml"


@dataclass(frozen=True)
class FinishedStudy:
    url: str
    study: optuna.Study
    folder: Path


@pytest.fixture
def smoke_study(tmp_path: Path) -> FinishedStudy:
    """8 trials sampled from ``spaces/smoke.yaml`` by the search's own define-by-run code, recorded as a search
    records them (:mod:`search.study`): reports as intermediate values, every third trial COMPLETE after 4
    reports, trial 5 FAIL, the others PRUNED after 2. The value is a fixed function of the parameters."""
    spec = load_space(SMOKE)
    url = default_storage_url(tmp_path)
    study = optuna.create_study(storage=open_storage(url), study_name="smoke", direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for i in range(8):
        trial = study.ask()
        DefineByRun(spec.params)(trial)
        trial.set_user_attr("trial_id", f"id{i:03d}")
        if i == 5:
            trial.set_user_attr("fail_reason", "non-finite loss")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        p = trial.params
        final = 0.02 * p["head_depth"] + (0.03 if p["loss"] == "focal" else 0.0) + math.log(p["lr"] / 0.003) / 100
        reports = 4 if i % 3 == 0 else 2
        for step in range(1, reports + 1):
            trial.report(final * step / 4, step)
        if reports == 4:
            study.tell(trial, final)
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return FinishedStudy(url, study, tmp_path)
