"""search.experiment.grow: a saved Tune search state (written and restored by Tune itself) gets a new trial target."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray")

from ray.tune.search import ConcurrencyLimiter, SearchGenerator

from search.experiment import (
    FixedConfigs,
    GrowError,
    StateSignatureError,
    add_saved_configs,
    confirmation_configs,
    grow_search,
    read_target,
    verify_state,
)
from search.space import load_space

CONFIGS = [{"lr": 0.01, "seed": 1}, {"lr": 0.005, "seed": 1}]


def _saved_search(path: Path, configs: list[dict[str, float]], created: int, target: int) -> None:
    """The state Tune saves for a search that made ``created`` of ``target`` trials (its own save_to_dir), signed
    as the search signs it."""
    searcher = FixedConfigs(configs)
    for _ in range(created):
        searcher.suggest("t")
    generator = SearchGenerator(ConcurrencyLimiter(searcher, max_concurrent=1))
    generator.set_state({"counter": created, "total_samples": target, "finished": created == target,
                         "experiment": None})
    path.mkdir(parents=True, exist_ok=True)
    generator.save_to_dir(str(path), session_str="2026-01-01_00-00-00")
    verify_state(str(path), trust_unsigned=True)


def _restored(path: Path) -> SearchGenerator:
    """What Tune's restore makes of the saved state."""
    generator = SearchGenerator(ConcurrencyLimiter(FixedConfigs([]), max_concurrent=1))
    generator.restore_from_dir(str(path))
    return generator


@pytest.mark.parametrize("uri", [False, True])
def test_grow_raises_the_target_tune_restores(tmp_path: Path, uri: bool) -> None:
    _saved_search(tmp_path / "exp", CONFIGS, created=2, target=2)
    assert _restored(tmp_path / "exp").is_finished()
    path = f"file://{tmp_path / 'exp'}" if uri else str(tmp_path / "exp")
    line = grow_search(path, 5)
    assert line == "--num-samples 5: the search runs to 5 trials instead of 2 (2 made, 3 to sample)"
    restored = _restored(tmp_path / "exp")
    assert restored.total_samples == 5 and not restored.is_finished()
    # Nothing else of the state changed, and no temporary file is left.
    assert read_target(path).created == 2
    assert sorted(p.name for p in (tmp_path / "exp").iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("num_samples", [1, 2])
def test_grow_to_no_more_than_exists_changes_nothing(tmp_path: Path, num_samples: int) -> None:
    _saved_search(tmp_path, CONFIGS, created=2, target=2)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    line = grow_search(str(tmp_path), num_samples)
    assert line.startswith(f"--num-samples {num_samples}: the search already has 2 trials; none added")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_interrupted_search_target_follows_num_samples(tmp_path: Path) -> None:
    _saved_search(tmp_path, CONFIGS, created=1, target=4)
    assert grow_search(str(tmp_path), 4) == ""  # a plain resume
    assert "runs to 2 trials instead of 4 (1 made, 1 to sample)" in grow_search(str(tmp_path), 2)
    assert _restored(tmp_path).total_samples == 2


def test_grow_unpickles_only_signed_state(tmp_path: Path) -> None:
    _saved_search(tmp_path, CONFIGS, created=2, target=2)
    (state,) = tmp_path.glob("search_gen_state-*.json")
    state.write_bytes(state.read_bytes() + b" ")
    with pytest.raises(StateSignatureError, match=f"{state.name}: does not match its signature"):
        grow_search(str(tmp_path), 3)
    (tmp_path / "state.signatures").unlink()
    with pytest.raises(StateSignatureError, match=f"{state.name}: has no signature"):
        grow_search(str(tmp_path), 3)


def test_grow_without_saved_state_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(GrowError, match=r"has no saved search state \(search_gen_state-\*\.json\) to grow"):
        grow_search(str(tmp_path), 3)


def test_confirmation_takes_the_new_best_configs(tmp_path: Path) -> None:
    _saved_search(tmp_path, CONFIGS[:1], created=1, target=1)
    assert add_saved_configs(str(tmp_path), CONFIGS) == 1
    restored = _restored(tmp_path)
    assert restored.total_samples == 2 and not restored.is_finished()
    # The restored searcher hands out the added config next, and only it.
    searcher = restored.searcher.searcher
    assert searcher.suggest("t2") == CONFIGS[1] and searcher.suggest("t3") == FixedConfigs.FINISHED
    assert add_saved_configs(str(tmp_path), CONFIGS) == 0


def test_confirmation_configs_do_not_depend_on_restore_order() -> None:
    """Tied values (tiny runs often score 0) go to the earliest trial, whatever order Tune restored them in."""
    spec = load_space(Path(__file__).resolve().parents[3] / "spaces" / "smoke.yaml")  # top 2, 1 seed
    metric = spec.experiment.metric
    rows = [{"stage": "search", "status": "TERMINATED", metric: 0.0, "trial": f"t00{i}_x",
             "config": json.dumps({"i": i})} for i in (3, 1, 4, 2)]
    picked = [c["i"] for c in confirmation_configs(pd.DataFrame(rows), spec)]
    assert picked == [1, 2] == [c["i"] for c in confirmation_configs(pd.DataFrame(rows[::-1]), spec)]
