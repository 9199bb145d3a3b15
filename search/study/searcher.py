"""The search's Optuna study in a real database, with honest trial states.

Ray Tune's ``OptunaSearch`` keeps its study in memory unless given a storage, and tells Optuna that
every trial that ended without an error is COMPLETE, with whatever value it reached: a trial that
ASHA stopped after one report reaches TPE as a finished trial at its low-fidelity value.
:class:`StudySearch` adds what that lacks:

* the study lives in an SQL database (SQLite in the experiment folder by default; any SQLAlchemy
  URL), named after the experiment, so ``optuna-dashboard``, ``optuna.load_study`` and later searches
  can read it, and ``--resume`` continues the same study;
* a trial stopped before ``max_reports`` reports is told PRUNED (its reports are already the study
  trial's intermediate values, one per ``training_iteration``), as Optuna's own pruners record it;
* a trial that diverged or failed is told FAIL, with the reason as the user attribute ``fail_reason``;
* every trial carries Tune's trial id as the user attribute ``trial_id`` (``results.csv``'s ``trial_id``,
  the end of the trial's folder name), which links what the dashboard shows to folders and checkpoints;
* the study names its objective(s) after the metric(s), which the dashboard and Optuna's plots show
  (instead of "Objective 0").

Several objectives (``experiment.objectives``): Optuna keeps no intermediate values for a multi-objective
study (``Trial.report`` refuses them, and Tune's ``OptunaSearch`` skips them), so an ASHA-stopped trial is
PRUNED without any; its reports at the stop and its objective values there are kept as the user attributes
``reports`` and ``values_at_stop``. TPE then ranks it behind every COMPLETE trial, as Optuna ranks a pruned
trial that reported nothing: its values were measured at a lower fidelity than a finished trial's.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import optuna
from ray.tune.search.optuna import OptunaSearch

__all__ = ["StudySearch"]

logger = logging.getLogger(__name__)

class StudySearch(OptunaSearch):
    """``OptunaSearch`` that records ASHA-stopped trials as PRUNED and failed ones as FAIL (see module doc).

    Args:
        max_reports: the reports of a trial that ran to the end (ASHA's ``max_t``).
        **kwargs: ``OptunaSearch``'s (``space``, ``metric``, ``mode``, ``sampler``, ``storage``,
            ``study_name``).
    """

    def __init__(self, *, max_reports: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_reports = max_reports
        # The last training_iteration each trial reported as an intermediate value.
        self._reported: dict[str, int] = {}

    def _setup_study(self, mode: str | list[str]) -> None:
        super()._setup_study(mode)
        assert self._ot_study is not None and self._metric is not None, "set up with a metric"
        names = [self._metric] if isinstance(self._metric, str) else list(self._metric)
        with warnings.catch_warnings():  # set_metric_names is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._ot_study.set_metric_names(names)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = super().suggest(trial_id)
        if trial_id in self._ot_trials:
            self._ot_trials[trial_id].set_user_attr("trial_id", trial_id)
        return config

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        super().on_trial_result(trial_id, result)
        self._reported[trial_id] = int(result.get("training_iteration", 0))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            super().on_trial_complete(trial_id, result, error)
            return
        ot_trial = self._ot_trials[trial_id]
        study = self._ot_study
        assert study is not None, "the study is set up before any trial"
        result = result or {}
        several = isinstance(self.metric, list)
        values = [result.get(m) for m in (self.metric if several else [self.metric])]
        reports = int(result.get("training_iteration", 0))
        # Tune hands the last result to on_trial_complete only (not to on_trial_result): it is the last
        # intermediate value too (one objective only: see the module doc).
        if not several and _finite(values[0]) and reports > self._reported.get(trial_id, 0):
            ot_trial.report(float(values[0]), reports)
        if error or result.get("diverged"):
            reason = str(result.get("diverged_reason", "")) if result.get("diverged") else "the trial raised"
            ot_trial.set_user_attr("fail_reason", reason or "diverged")
            study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)
        elif reports < self._max_reports and all(_finite(v) for v in values):
            if several:
                ot_trial.set_user_attr("reports", reports)
                ot_trial.set_user_attr("values_at_stop", [float(v) for v in values])
            # One objective: its intermediate values (one per report) are in the study already. PRUNED, as
            # Optuna's pruners do.
            study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
        else:
            super().on_trial_complete(trial_id, result, error)
            return
        self._completed_trials.add(trial_id)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
