"""StudySearch on --resume: its state is the study's (a real SQLite study), never a pickle it is handed."""

from __future__ import annotations

import pickle
from pathlib import Path

import optuna
import pytest

pytest.importorskip("ray")

from search.space import DefineByRun, load_space
from search.study import StudyMismatchError, StudySearch, default_storage_url, open_storage

REPO = Path(__file__).resolve().parents[3]
METRIC = "thresholds/AP_iou_f1"


def _searcher(url: str, seed: int) -> StudySearch:
    spec = load_space(REPO / "spaces" / "smoke.yaml")
    return StudySearch(space=DefineByRun(spec.params), metric=METRIC, mode="max",
                       sampler=optuna.samplers.RandomSampler(seed=seed), storage=open_storage(url),
                       study_name="smoke", max_reports=4)


def _earlier_session(url: str) -> None:
    """Three trials as Tune drove them before the interruption: id0 finished all 4 reports, id1 reported twice
    and still runs, id2 started without a report."""
    searcher = _searcher(url, seed=0)
    for trial_id in ("id0", "id1", "id2"):
        searcher.suggest(trial_id)
    for step in range(1, 4):
        searcher.on_trial_result("id0", {METRIC: 0.1 * step, "training_iteration": step})
    searcher.on_trial_complete("id0", {METRIC: 0.4, "training_iteration": 4})
    for step in (1, 2):
        searcher.on_trial_result("id1", {METRIC: 0.05 * step, "training_iteration": step})


def test_a_resumed_searcher_goes_on_with_the_trials_in_the_study(tmp_path: Path) -> None:
    url = default_storage_url(tmp_path)
    _earlier_session(url)
    resumed = _searcher(url, seed=3)
    resumed.restore_from_study(["id0", "id1", "id2"])

    # id1 resumes from its checkpoint at report 2: its reports 2 (again: kept once) to 4, then it ends.
    for step in (2, 3):
        resumed.on_trial_result("id1", {METRIC: 0.05 * step, "training_iteration": step})
    resumed.on_trial_complete("id1", {METRIC: 0.2, "training_iteration": 4})
    # id2 runs from the start and ASHA stops it after one report.
    resumed.on_trial_complete("id2", {METRIC: 0.01, "training_iteration": 1})
    # A result Tune sends again for the finished id0 changes nothing.
    resumed.on_trial_complete("id0", {METRIC: 0.9, "training_iteration": 4})
    # A new trial is a new study trial.
    assert resumed.suggest("id3") is not None

    trials = optuna.load_study(study_name="smoke", storage=url).get_trials()
    by_id = {t.user_attrs["trial_id"]: t for t in trials}
    assert len(trials) == 4 and set(by_id) == {"id0", "id1", "id2", "id3"}
    assert (by_id["id0"].state, by_id["id0"].value) == (optuna.trial.TrialState.COMPLETE, 0.4)
    assert by_id["id1"].state == optuna.trial.TrialState.COMPLETE and by_id["id1"].value == 0.2
    assert by_id["id1"].intermediate_values == pytest.approx({1: 0.05, 2: 0.1, 3: 0.15, 4: 0.2})
    assert by_id["id2"].state == optuna.trial.TrialState.PRUNED and by_id["id2"].intermediate_values == {1: 0.01}
    assert by_id["id3"].state == optuna.trial.TrialState.RUNNING


def test_a_study_without_the_experiments_trials_is_refused(tmp_path: Path) -> None:
    url = default_storage_url(tmp_path)
    _earlier_session(url)
    with pytest.raises(StudyMismatchError, match=r"no trial for 1 of the experiment's 2 trials \(Tune trial id "
                       r"other\): it is not the study the search ran in"):
        _searcher(url, seed=0).restore_from_study(["id0", "other"])


def test_the_saved_searcher_state_is_never_unpickled(tmp_path: Path) -> None:
    """Tune's restore of an OptunaSearch unpickles searcher-state-*.pkl; StudySearch refuses before opening it."""
    marker = tmp_path / "ran"
    payload = tmp_path / "searcher-state-x.pkl"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (exec, (f"open({str(marker)!r}, 'w').write('ran')",))

    payload.write_bytes(pickle.dumps(Payload()))
    searcher = _searcher(default_storage_url(tmp_path), seed=0)
    with pytest.raises(RuntimeError, match="restored from its study"):
        searcher.restore_from_dir(str(tmp_path))  # Tune's Searcher.restore_from_dir: the newest file, restore()
    assert not marker.exists()
