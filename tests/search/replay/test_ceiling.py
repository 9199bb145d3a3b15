"""bench/replay_ceiling.py: the replay's target against a searcher that knows the table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import GRID, METRIC, write_space

from search.replay import Replay, load_curves, method_space
from search.replay.figures import config_values
from search.space import read_yaml

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("replay_ceiling", REPO / "bench" / "replay_ceiling.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_the_oracle_proposes_the_tables_configs_best_mean_first_behind_the_concurrency_limit(
        dominated: Path, tmp_path: Path) -> None:
    table = load_curves(dominated)
    values = config_values(table, METRIC, "max", 4)
    ranked = sorted(values, key=lambda c: values[c], reverse=True)
    space = write_space(tmp_path / "s.yaml", num_samples=6, max_concurrent=2)
    spec = method_space(read_yaml(space, "space", ValueError), "tpe_fifo")
    replay = Replay(table, METRIC, "max")
    oracle = bench.Oracle([replay.by_config[c][0].params for c in ranked[:6]], METRIC, "max")
    trace = replay.run(spec, workers=3, seed=0, searcher=oracle)
    assert [t.config_id for t in trace.trials] == ranked[:6] and ranked[0] == 0
    assert all(t.distance == 0 and t.full_budget for t in trace.trials)
    # At most max_concurrent (2) at once although 3 workers are free: the space's limit wraps the oracle too.
    starts = sorted(t.started for t in trace.trials)
    assert starts[2] > starts[0]
    assert trace.final_best == pytest.approx(0.9)


def test_on_a_table_with_a_dominating_config_the_target_is_within_the_oracles_reach(
        dominated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(tmp_path / "s.yaml", num_samples=20, max_concurrent=1,
                        asha={"grace_period": 1, "reduction_factor": 2})
    doc = bench.measure(dominated, space, repetitions=4, bootstrap=50)
    oracle = doc["methods"]["oracle + fifo"]
    # The oracle's first trial is config 0 (0.9 at every report): it reaches any target with its first trial.
    assert oracle["final_best_median"] == pytest.approx(0.9)
    assert doc["best_configs"][0] == {"config_id": 0, "mean": pytest.approx(0.9), "best_run": pytest.approx(0.9)}
    assert oracle["ratio"] is not None and oracle["ratio"] < doc["methods"]["random_asha"]["ratio"]
    assert doc["methods"]["random_asha"]["ratio_to_reference_reach"] == 1.0
    assert doc["runs"] == 2 * len(GRID) and doc["runs_reaching_target"] >= 2
    assert doc["workers"] == 1 and doc["full_budget_iterations"] == 40  # 4 reports of 10 iterations
    bench.print_report(doc)
    out = capsys.readouterr().out
    assert "with 1 worker busy, the first full-budget value comes at about 1 x 40 = 40 iterations" in out
    assert "is within what a searcher that knows the table reaches" in out
