"""search.replay.surrogate: the nearest-config distance's weights, fitted so a held-out config's answer ranks it."""

from __future__ import annotations

import csv
import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import METRIC, write_space

from search.replay import Replay, load_curves
from search.replay.__main__ import main
from search.replay.surrogate import MIN_CONFIGS, fit_surrogate, unit_surrogate

# x decides the result; c1..c6 are choices that change nothing.
PARAMS = {
    "x": {"key": "MODEL.ROI_ATTRIBUTE_HEAD.LOSS_WEIGHT", "type": "uniform", "low": 0.0, "high": 1.0},
    **{f"c{i}": {"key": f"MODEL.ROI_ATTRIBUTE_HEAD.C{i}", "type": "choice", "values": ["a", "b"]}
       for i in range(1, 7)},
}


def _table(path: Path, configs: int, *, reports: int = 4) -> Path:
    """``configs`` configs drawn at random: the value is x at every report (two seeds a hair apart)."""
    rng = random.Random(0)
    rows = []
    for config_id in range(configs):
        x = round(rng.random(), 4)
        choices = {f"param.c{i}": rng.choice("ab") for i in range(1, 7)}
        for seed in range(2):
            for r in range(1, reports + 1):
                rows.append({"config_id": config_id, "seed": seed, "report": r, "iterations": 10 * r,
                             "seconds": 5.0 * r, "param.x": x, **choices, METRIC: round(x + 0.001 * seed, 6)})
    with gzip.open(path, "wt", newline="") as f:
        f.write(f"# params: {json.dumps(PARAMS)}\n")
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_fit_weights_what_decides_the_result_and_answers_held_out_configs_better(tmp_path: Path) -> None:
    table = load_curves(_table(tmp_path / "t.csv.gz", 40))
    fitted = fit_surrogate(table, METRIC, "max", 4)
    unit = unit_surrogate(table, METRIC, "max", 4)
    assert fitted.fitted and not unit.fitted and fitted.configs == 40
    # With every weight 1 the six choices outvote x (whose difference is at most 1): x only breaks their ties.
    assert unit.unit_rho is not None and unit.unit_rho < 0.7
    assert fitted.weights["x"] > max(fitted.weights[f"c{i}"] for i in range(1, 7))
    assert fitted.cross_validated_rho is not None and fitted.cross_validated_rho > 0.9
    assert fitted.seed_rho is not None and fitted.seed_rho > 0.99
    assert fit_surrogate(table, METRIC, "max", 4) == fitted  # deterministic
    # The replay answers a proposal with a recorded config near it in x, whatever its choices.
    replay = Replay(table, METRIC, "max", fitted.weights)
    proposal = {"x": 0.5, **{f"c{i}": "a" for i in range(1, 7)}}
    config_id, _ = replay.nearest(proposal)
    xs = {run.config_id: run.params["x"] for run in table.runs}
    assert abs(xs[config_id] - 0.5) < 0.05, fitted.weights


def test_too_few_configs_keep_every_weight_1_and_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _table(tmp_path / "t.csv.gz", MIN_CONFIGS - 1)
    s = fit_surrogate(load_curves(path), METRIC, "max", 4)
    assert not s.fitted and set(s.weights.values()) == {1.0}
    space = write_space(tmp_path / "s.yaml", num_samples=4)
    assert main(["--table", str(path), "--space", str(space), "--repetitions", "1", "--jobs", "1",
                 "--methods", "random_asha", "--json", str(tmp_path / "o.json")]) == 0
    out = capsys.readouterr().out
    assert f"fewer than {MIN_CONFIGS} configs ran the full budget" in out and "every weight 1" in out
    assert "too few" in out and "rho" not in out.split("surrogate:")[1].splitlines()[0]
    doc = json.loads((tmp_path / "o.json").read_text())
    assert doc["surrogate"]["fitted"] is False


@pytest.mark.slow
def test_the_command_replays_on_two_processes(tmp_path: Path) -> None:
    """``python -m search.replay --jobs 2``: the worker processes find their task (a module run with -m is
    __main__, which spawned workers do not import; search/replay/runner.py)."""
    path = _table(tmp_path / "t.csv.gz", 12)
    space = write_space(tmp_path / "s.yaml", num_samples=4)
    done = subprocess.run([sys.executable, "-m", "search.replay", "--table", str(path), "--space", str(space),
                           "--repetitions", "4", "--jobs", "2", "--methods", "random_asha", "default",
                           "--json", str(tmp_path / "o.json")], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads((tmp_path / "o.json").read_text())
    assert doc["repetitions"] == 4 and set(doc["methods"]) == {"random_asha", "default"}
    assert doc["surrogate"]["fitted"] is True
