"""search.experiment.grow and .resume: a resumed search's target, and the search algorithm ``--resume`` rebuilds
(real Tune SearchGenerator, ConcurrencyLimiter and Experiment; end to end: test_grow_e2e.py, test_moved_e2e.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray")

from ray.tune.experiment import Experiment
from ray.tune.search import ConcurrencyLimiter

from search.experiment import FixedConfigs, ResumedSearch, SavedTarget, SavedTrials, confirmation_configs, grow_search
from search.space import load_space

CONFIGS = [{"lr": 0.01, "seed": 1}, {"lr": 0.005, "seed": 1}]


def test_grow_raises_the_target() -> None:
    assert grow_search(SavedTarget(created=2, target=2), 5) == (
        "--num-samples 5: the search runs to 5 trials instead of 2 (2 made, 3 to sample)", 5)


@pytest.mark.parametrize("num_samples", [1, 2])
def test_grow_to_no_more_than_exists_changes_nothing(num_samples: int) -> None:
    line, target = grow_search(SavedTarget(created=2, target=2), num_samples)
    assert line.startswith(f"--num-samples {num_samples}: the search already has 2 trials; none added")
    assert target == 2


def test_interrupted_search_target_follows_num_samples() -> None:
    saved = SavedTarget(created=1, target=4)
    assert grow_search(saved, None) == ("", 4)  # a plain resume: the recorded target
    assert grow_search(saved, 4) == ("", 4)
    assert grow_search(saved, 2) == ("--num-samples 2: the search runs to 2 trials instead of 4 (1 made, 1 to sample)",
                                     2)


def _trials(configs: list[dict[str, float]], unfinished: set[str]) -> SavedTrials:
    return SavedTrials(ids=tuple(f"id{i}" for i in range(len(configs))), configs=tuple(configs),
                       unfinished=frozenset(unfinished), staging="2026-01-01_00-00-00")


def _experiment(tmp_path: Path) -> Experiment:
    return Experiment(name="exp", run=lambda config: None, storage_path=str(tmp_path))


def test_resumed_search_takes_its_state_from_the_trials_not_from_files(tmp_path: Path) -> None:
    """Two confirmation configs ran, the first one still unfinished; a grown search adds a third."""
    trials = _trials(CONFIGS, unfinished={"id0"})
    new = {"lr": 0.02, "seed": 1}
    limiter = ConcurrencyLimiter(FixedConfigs([*CONFIGS, new], handed_out=2), max_concurrent=2)
    search = ResumedSearch(limiter, _experiment(tmp_path), trials, target=3)
    assert search.total_samples == 3 and not search.is_finished()
    # Tune's restore asks first whether there is saved state; there is none to read, whatever the folder holds.
    (tmp_path / "search_gen_state-x.json").write_bytes(b"not read")
    assert not search.has_checkpoint(str(tmp_path))
    with pytest.raises(RuntimeError, match="never from"):
        search.restore_from_dir(str(tmp_path))
    # The unfinished trial holds one of the two places: one new trial, with the added config, then no more.
    trial = search.next_trial()
    assert trial is not None and trial.config == new and trial.experiment_tag.startswith("3_")
    assert trial.storage is not None and trial.storage.experiment_fs_path == str(tmp_path / "exp")
    assert search.next_trial() is None and search.is_finished()
    # The unfinished trial's end reaches the searcher (a limiter that did not count it would drop it).
    limiter.on_trial_complete("id0", {"lr": 0.01})
    assert limiter.live_trials == {trial.trial_id}


def test_concurrency_counts_the_trials_tune_resumes(tmp_path: Path) -> None:
    limiter = ConcurrencyLimiter(FixedConfigs([*CONFIGS, {"lr": 0.02}], handed_out=2), max_concurrent=2)
    search = ResumedSearch(limiter, _experiment(tmp_path), _trials(CONFIGS, unfinished={"id0", "id1"}), target=3)
    assert search.next_trial() is None and not search.is_finished()  # both places are taken
    limiter.on_trial_complete("id1")
    assert search.next_trial() is not None


def test_confirmation_configs_do_not_depend_on_restore_order() -> None:
    """Tied values (tiny runs often score 0) go to the earliest trial, whatever order Tune restored them in."""
    spec = load_space(Path(__file__).resolve().parents[3] / "spaces" / "smoke.yaml")  # top 2, 1 seed
    metric = spec.experiment.metric
    rows = [{"stage": "search", "status": "TERMINATED", metric: 0.0, "trial": f"t00{i}_x",
             "config": json.dumps({"i": i})} for i in (3, 1, 4, 2)]
    picked = [c["i"] for c in confirmation_configs(pd.DataFrame(rows), spec)]
    assert picked == [1, 2] == [c["i"] for c in confirmation_configs(pd.DataFrame(rows[::-1]), spec)]
