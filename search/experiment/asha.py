"""ASHA that, on ``--resume``, compares new reports with every report of the earlier session.

Tune does not save a scheduler with the experiment: ``Tuner.restore`` unpickles the one pickled in
``tuner.pkl`` when the search began, before any trial ran (``search.run --resume`` builds a new one from the
space instead: :mod:`search.experiment.resume`), and re-adds the restored trials through ``on_trial_add``.
Ray's ``AsyncHyperBandScheduler`` then has empty rungs: the old trials' scores are gone, new (and resumed)
trials are compared only with each other, and the first to reach a rung is never stopped.
:class:`ResumableASHAScheduler` refills the rungs when a trial that has already reported is added: it replays
that trial's reports, in order, into its bracket exactly as the live scheduler recorded them (the first report
at or past each milestone), so the rungs are as the earlier session left them.

The reports come from the trial folder's ``result.json`` (one line per report, Tune's
``JsonLoggerCallback``; on storage, local or a URI). Tune's ``Result.from_path`` reads the same file but
also loads checkpoints and the error file and warns about a checkpoint whose report was not synced
yet, so the lines are read here. Without the file (loggers turned off) the trial's last report, which
Tune keeps in its experiment state, is replayed alone.

Resumed trials are not counted twice: a rung keeps one score per trial id, and a trial that reports
again at a rung it already holds (it restarts from a checkpoint older than its last report) keeps the
score it first had there, as in an uninterrupted run. A trial that Tune re-adds after a failure within
a session is already in the rungs it reached and is not replayed.

The restored trials join a bracket as new ones do; with Ray's default single bracket (the only one this
project builds) that is the bracket they were in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from ray.tune.experiment import Trial
from ray.tune.result import EXPR_RESULT_FILE, TRIAL_ID
from ray.tune.schedulers import AsyncHyperBandScheduler
from ray.tune.utils import flatten_dict

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController

__all__ = ["ResumableASHAScheduler", "reported_results"]


def reported_results(trial: Trial) -> Iterator[dict[str, Any]]:
    """Every report of ``trial`` so far, oldest first, flattened as Tune hands results to a scheduler.

    From ``result.json`` in the trial's folder on its storage; the last report alone when there is no
    such file; nothing for a trial that has not reported.
    """
    # Not Trial.last_result: for a trial that never reported, it makes one up.
    last = trial.run_metadata.last_result
    if not set(last) - {TRIAL_ID}:
        return
    lines = _result_lines(trial)
    if lines is None:
        yield flatten_dict(last)
        return
    for line in lines:
        if line.strip():
            yield flatten_dict(json.loads(line))


def _result_lines(trial: Trial) -> list[str] | None:
    """The lines of the trial's ``result.json`` on its storage; None where there is none."""
    if trial.storage is None or trial.storage.trial_dir_name is None:
        return None
    try:
        path = PurePosixPath(trial.storage.trial_fs_path) / EXPR_RESULT_FILE
        with trial.storage.storage_filesystem.open_input_stream(str(path)) as f:
            return f.readall().decode().splitlines()
    except FileNotFoundError:
        return None


class ResumableASHAScheduler(AsyncHyperBandScheduler):
    """Ray's ASHA whose rungs hold the reports of trials restored from an earlier session."""

    def on_trial_add(self, tune_controller: TuneController, trial: Trial) -> None:
        super().on_trial_add(tune_controller, trial)
        bracket = self._trial_info[trial.trial_id]
        if any(trial.trial_id in recorded for _, recorded in bracket._rungs):
            return  # re-added after a failure: the live scheduler recorded its reports
        for result in reported_results(trial):
            # The same filter and sign as AsyncHyperBandScheduler.on_trial_result; the action is
            # ignored: these reports were decided on in the earlier session.
            if self._time_attr in result and self._metric in result:
                bracket.on_result(trial, result[self._time_attr], self._metric_op * result[self._metric])
