"""The search's Optuna study in a real database, with honest trial states.

Ray Tune's ``OptunaSearch`` keeps its study in memory unless given a storage, and tells Optuna that
every trial that ended without an error is COMPLETE, with whatever value it reached: a trial that
ASHA stopped after one report reaches TPE as a finished trial at its low-fidelity value.
:class:`StudySearch` adds what that lacks:

* the study lives in an SQL database (SQLite in the experiment folder by default; any SQLAlchemy
  URL), named after the experiment, so ``optuna-dashboard``, ``optuna.load_study`` and later searches
  can read it, and ``--resume`` continues the same study;
* a trial stopped before ``max_reports`` reports is told PRUNED, as Optuna's own pruners record it;
* a trial that diverged or failed is told FAIL, with the reason as the user attribute ``fail_reason``;
* every trial carries Tune's trial id as the user attribute ``trial_id`` (``results.csv``'s ``trial_id``,
  the end of the trial's folder name), which links what the dashboard shows to folders and checkpoints;
* the study names its objective(s) after the metric(s), which the dashboard and Optuna's plots show
  (instead of "Objective 0");
* a trial's value is the one ``results.csv`` ranks it by: its best report (by the first objective), whose
  checkpoint is kept and shipped, not its last one; and its intermediate value at each ``training_iteration``
  is its value so far (its best report up to then: what it would stand for had it stopped there, which is
  also the value Optuna gives a PRUNED trial). So TPE, the study, optuna-dashboard and every Optuna plot give
  a trial the number the ranking, the console and TensorBoard give it. The raw value of every report is in
  the trial's ``result.json`` and TensorBoard; ASHA compares raw values at its rungs, in Tune. The ranked
  report is the user attribute ``ranked_report`` (its ``training_iteration``), kept up to date while it runs;
* on ``--resume`` it takes up its trials from the study (:meth:`StudySearch.restore_from_study`: which are
  finished, which still run, what they reported) instead of unpickling ``OptunaSearch``'s saved state, which
  Tune would otherwise load from the experiment folder: a pickle runs code when it is read, and it names the
  database the search started with, so a copied folder would go on in the original's study.

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
from collections.abc import Collection
from typing import Any

import optuna
from ray.tune.search.optuna import OptunaSearch

__all__ = ["StudyMismatchError", "StudySearch"]

logger = logging.getLogger(__name__)

# The user attribute that links a study trial to Tune's trial.
TRIAL_ID_ATTR = "trial_id"


class StudyMismatchError(ValueError):
    """The study lacks trials the experiment ran: it is not the study the search ran in (one line)."""


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
        # Each running trial's best report so far: (training_iteration, the objectives' values there).
        self._ranked: dict[str, tuple[int, list[float]]] = {}

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
            self._ot_trials[trial_id].set_user_attr(TRIAL_ID_ATTR, trial_id)
        return config

    def restore_from_study(self, trial_ids: Collection[str]) -> None:
        """Take up Tune's trials ``trial_ids`` (a restored experiment's, every one it made) from the study.

        Their study trials are found by their ``trial_id`` attribute. A finished one is done (a result Tune
        sends again for it is ignored, as for any finished trial); a running one gets its Optuna trial back,
        to report to and tell, and the last report it made there, so that none is reported twice. Study trials
        of no trial in ``trial_ids`` (warm-start copies, another search's) are left alone.

        Raises:
            StudyMismatchError: a trial of ``trial_ids`` is not in the study: it is another study than the
                one the search ran in.
        """
        study = self._ot_study
        assert study is not None, "set up with a space"
        ours = {str(t.user_attrs[TRIAL_ID_ATTR]): t for t in study.get_trials(deepcopy=False)
                if TRIAL_ID_ATTR in t.user_attrs}
        missing = [i for i in trial_ids if i not in ours]
        if missing:
            raise StudyMismatchError(
                f"study {study.study_name!r} has no trial for {len(missing)} of the experiment's {len(trial_ids)} "
                f"trials (Tune trial id {missing[0]}): it is not the study the search ran in")
        for trial_id in trial_ids:
            frozen = ours[trial_id]
            if frozen.state.is_finished():
                self._completed_trials.add(trial_id)
                continue
            # Optuna's own Trial for a trial id of its storage (what Study.ask returns): FrozenTrial has no
            # public accessor for that id; _trial_id is the one Optuna itself uses.
            self._ot_trials[trial_id] = optuna.Trial(study, frozen._trial_id)
            if frozen.intermediate_values:
                self._reported[trial_id] = max(frozen.intermediate_values)

    def restore(self, checkpoint_path: str) -> None:
        """Refused: ``OptunaSearch.restore`` unpickles ``checkpoint_path``. The state is the study's
        (:meth:`restore_from_study`)."""
        raise RuntimeError(f"{type(self).__name__} is restored from its study, never from {checkpoint_path}")

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        # Not OptunaSearch's: it reports each raw value; here the value so far (module doc).
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        self._note(trial_id, result)

    def _note(self, trial_id: str, result: dict[str, Any]) -> None:
        """Take one report: keep it as the trial's ranked report when its first objective beats the best so far
        (the first such report on ties, as ``results.csv`` picks it), and record the value so far as the
        intermediate value of its ``training_iteration`` (one objective)."""
        metrics = self._metrics()
        raw = [result.get(m) for m in metrics]
        report = int(result.get("training_iteration", 0))
        if not all(_finite(v) for v in raw) or report <= self._reported.get(trial_id, 0):
            return
        values = [float(v) for v in raw]  # type: ignore[arg-type]  # finite numbers, checked above
        ot_trial = self._ot_trials[trial_id]
        old = self._ranked.get(trial_id) or self._stored_rank(ot_trial.number)
        if old is None or _better(values[0], old[1][0], self._first_mode()):
            self._ranked[trial_id] = (report, values)
            ot_trial.set_user_attr("ranked_report", report)
            if len(metrics) > 1:  # no intermediate values to find them in after a --resume
                ot_trial.set_user_attr("ranked_values", values)
        else:
            self._ranked[trial_id] = old
        if len(metrics) == 1:  # Optuna keeps no intermediate values for several objectives
            ot_trial.report(self._ranked[trial_id][1][0], report)
        self._reported[trial_id] = report

    def _stored_rank(self, number: int) -> tuple[int, list[float]] | None:
        """A running trial's ranked report as the study has it (reports made before a ``--resume``)."""
        assert self._ot_study is not None, "the study is set up before any trial"
        running = self._ot_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        frozen = next((t for t in running if t.number == number), None)
        if frozen is None or "ranked_report" not in frozen.user_attrs:
            return None
        report = int(frozen.user_attrs["ranked_report"])
        if isinstance(self.metric, list):
            return report, [float(v) for v in frozen.user_attrs["ranked_values"]]
        return report, [float(frozen.intermediate_values[max(frozen.intermediate_values)])]

    def _metrics(self) -> list[str]:
        """The objective(s), one or several, as a list."""
        return list(self.metric) if isinstance(self.metric, list) else [str(self.metric)]

    def _first_mode(self) -> str:
        return str(self.mode[0] if isinstance(self.mode, list) else self.mode)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            super().on_trial_complete(trial_id, result, error)
            return
        ot_trial = self._ot_trials[trial_id]
        study = self._ot_study
        assert study is not None, "the study is set up before any trial"
        result = result or {}
        metrics = self._metrics()
        several = isinstance(self.metric, list)
        values = [result.get(m) for m in metrics]
        reports = int(result.get("training_iteration", 0))
        # Tune hands the last result to on_trial_complete only (not to on_trial_result).
        if not (error or result.get("diverged")):
            self._note(trial_id, result)
        ranked = self._ranked.pop(trial_id, None)
        if error or result.get("diverged"):
            reason = str(result.get("diverged_reason", "")) if result.get("diverged") else "the trial raised"
            ot_trial.set_user_attr("fail_reason", reason or "diverged")
            study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)
        elif reports < self._max_reports and all(_finite(v) for v in values):
            if several:
                ot_trial.set_user_attr("reports", reports)
                ot_trial.set_user_attr("values_at_stop", [float(v) for v in values])
            # PRUNED, as Optuna's pruners do; Optuna gives it its last intermediate value: its value so far.
            study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
        else:
            # COMPLETE at its ranked report's values (module doc); Tune's OptunaSearch tells the ones it is given.
            if ranked is not None:
                result = {**result, **dict(zip(metrics, ranked[1], strict=True))}
            super().on_trial_complete(trial_id, result, error)
            return
        self._completed_trials.add(trial_id)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _better(value: float, than: float, mode: str) -> bool:
    return value > than if mode == "max" else value < than
