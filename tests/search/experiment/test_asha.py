"""search.experiment.asha: a restored ASHA's rungs are the earlier session's (real Ray scheduler and Trials).

Oracle: the same scheduler class run live over the same reports. Restoring goes as ``--resume`` does it:
the scheduler is unpickled as pickled before any trial ran, the trials come back through Tune's own
JSON state, and each is re-added with ``on_trial_add``. The reports are in each trial folder's
``result.json``, one JSON line per report, as Tune's ``JsonLoggerCallback`` writes it.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

pytest.importorskip("ray")

from ray.train._internal.storage import StorageContext
from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

from search.experiment import ResumableASHAScheduler

METRIC = "thresholds/AP_iou_f1"
# Rungs at 1, 2 and 4 reports; a trial below the rung's median is stopped.
ASHA = dict(time_attr="training_iteration", metric=METRIC, mode="max", max_t=4, grace_period=1, reduction_factor=2)


def _trial(storage: StorageContext, trial_id: str) -> Trial:
    """A new trial as Tune adds it: no report, no folder yet."""
    trial = Trial("train_trial", stub=True, config={}, trial_id=trial_id, storage=storage)
    trial.create_placement_group_factory()  # as TuneController.add_trial does
    return trial


def _start(trial: Trial) -> None:
    """The trial's folder, which Tune makes when the trial starts."""
    trial.storage.trial_dir_name = f"t_{trial.trial_id}"
    Path(trial.path).mkdir(parents=True)
    trial.set_status(Trial.RUNNING)


def _report(scheduler: AsyncHyperBandScheduler, trial: Trial, step: int, value: float) -> str:
    """What Tune does with one report: the trial's last result, a line in result.json, the scheduler's call."""
    result = {"training_iteration": step, METRIC: value, "diverged": 0}
    trial.update_last_result(result)
    with open(Path(trial.path) / "result.json", "a") as f:
        f.write(json.dumps(result) + "\n")
    action = scheduler.on_trial_result(None, trial, result)
    if action == TrialScheduler.STOP:
        scheduler.on_trial_complete(None, trial, result)
        trial.set_status(Trial.TERMINATED)
    return action


def _restored(trial: Trial, status: str) -> Trial:
    """The trial as ``--resume`` rebuilds it from the experiment state, requeued with ``status``."""
    state, run_metadata = trial.get_json_state()
    restored = Trial.from_json_state(state, stub=True)
    restored.restore_run_metadata(run_metadata)
    restored.set_status(status)
    return restored


def _rungs(scheduler: AsyncHyperBandScheduler) -> list[tuple[float, dict[str, float]]]:
    (bracket,) = scheduler._brackets
    return [(milestone, dict(recorded)) for milestone, recorded in bracket._rungs]


@pytest.fixture
def earlier_session(tmp_path: Path) -> tuple[bytes, AsyncHyperBandScheduler, list[Trial]]:
    """A session interrupted with four trials: two finished all 4 reports, one was stopped at the
    2-report rung, one was running after 1 report. Returns the scheduler pickled before any trial
    (what ``tuner.pkl`` holds), the live scheduler, and the trials as the experiment state saved them."""
    live = ResumableASHAScheduler(**ASHA)
    pickled = pickle.dumps(live)
    storage = StorageContext(storage_path=str(tmp_path), experiment_dir_name="exp")
    curves = {"a": [0.2, 0.4, 0.5, 0.6], "b": [0.3, 0.5, 0.6, 0.7], "c": [0.25, 0.1], "d": [0.35]}
    trials = []
    for trial_id, curve in curves.items():
        trial = _trial(storage, trial_id)
        live.on_trial_add(None, trial)
        _start(trial)
        for step, value in enumerate(curve, start=1):
            _report(live, trial, step, value)
        trials.append(trial)
    assert [t.status for t in trials] == [Trial.TERMINATED, Trial.TERMINATED, Trial.TERMINATED, Trial.RUNNING]
    return pickled, live, trials


def _restore(pickled: bytes, trials: list[Trial]) -> tuple[AsyncHyperBandScheduler, list[Trial]]:
    """``--resume``: finished trials are skipped (TERMINATED), unfinished ones requeued (PENDING)."""
    scheduler = pickle.loads(pickled)
    restored = [_restored(t, Trial.TERMINATED if t.status == Trial.TERMINATED else Trial.PENDING) for t in trials]
    for trial in restored:
        scheduler.on_trial_add(None, trial)
    return scheduler, restored


def test_restored_rungs_are_the_earlier_sessions(earlier_session) -> None:
    pickled, live, trials = earlier_session
    scheduler, _ = _restore(pickled, trials)
    assert _rungs(scheduler) == _rungs(live)
    assert _rungs(scheduler) == [(4, {"a": 0.6, "b": 0.7}), (2, {"a": 0.4, "b": 0.5, "c": 0.1}),
                                 (1, {"a": 0.2, "b": 0.3, "c": 0.25, "d": 0.35})]


def test_a_new_trial_is_compared_with_the_old_ones(earlier_session, tmp_path: Path) -> None:
    pickled, live, trials = earlier_session
    scheduler, _ = _restore(pickled, trials)
    new = _trial(StorageContext(storage_path=str(tmp_path), experiment_dir_name="exp"), "e")
    assert new.last_result  # Tune makes one up for a trial that has not reported; it is not replayed
    scheduler.on_trial_add(None, new)
    assert _rungs(scheduler) == _rungs(live)
    _start(new)
    # 0.22 is below the median of the 1-report rung (0.25 .. 0.35): stopped, as in an uninterrupted run.
    assert _report(scheduler, new, 1, 0.22) == TrialScheduler.STOP
    # Ray's own ASHA, restored the same way, has empty rungs: the first trial at a rung always continues.
    stock = pickle.loads(pickle.dumps(AsyncHyperBandScheduler(**ASHA)))
    stock.on_trial_add(None, new)
    assert stock.on_trial_result(None, new, {"training_iteration": 1, METRIC: 0.22}) == TrialScheduler.CONTINUE


def test_a_resumed_trial_is_counted_once(earlier_session) -> None:
    pickled, _, trials = earlier_session
    scheduler, restored = _restore(pickled, trials)
    running = restored[3]  # "d", 1 report before the interruption, restarts from an older checkpoint
    before = _rungs(scheduler)
    assert _report(scheduler, running, 1, 0.05) == TrialScheduler.CONTINUE  # the rung keeps its first score
    assert _rungs(scheduler) == before
    # At 2 reports it joins the rung once, compared with a, b and c there (median 0.4): 0.45 continues.
    assert _report(scheduler, running, 2, 0.45) == TrialScheduler.CONTINUE
    assert _rungs(scheduler)[1] == (2, {"a": 0.4, "b": 0.5, "c": 0.1, "d": 0.45})
    # Re-added after a failure in this session (Tune requeues it): its reports are not replayed again.
    (Path(running.path) / "result.json").write_text(json.dumps({"training_iteration": 4, METRIC: 0.0}) + "\n")
    scheduler.on_trial_add(None, running)
    assert _rungs(scheduler)[0] == (4, {"a": 0.6, "b": 0.7})


def test_without_result_json_the_last_report_is_replayed(earlier_session) -> None:
    pickled, _, trials = earlier_session
    for trial in trials:
        (Path(trial.path) / "result.json").unlink()
    scheduler, _ = _restore(pickled, trials)
    # Only the last report survives in Tune's experiment state; it lands at the highest rung it reached.
    assert _rungs(scheduler) == [(4, {"a": 0.6, "b": 0.7}), (2, {"c": 0.1}), (1, {"d": 0.35})]
