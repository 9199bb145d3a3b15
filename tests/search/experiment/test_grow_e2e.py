"""Grow a finished search and warm-start a new one from it, end to end on the CPU (real Tune, Optuna, detectron2).

One tiny finished search (2 trials of 2 reports, 1 confirmation re-run) is shared by both tests; each runs
``python -m search.run`` as a user does (the growth through :data:`WITH_ASHA_RUNGS`, which also reads ASHA's
rungs at the end).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytest.importorskip("detectron2")
pytest.importorskip("ray")

import optuna

from tests.search.tiny_search import REPO, tiny_space

# ``python -m search.run`` that afterwards writes the search's ASHA rungs ({milestone: {trial id: score}}) to
# the file named first: what the scheduler compared the reports with. Tune keeps the scheduler inside the
# run, so the instance is taken as Tune re-adds trials to it.
WITH_ASHA_RUNGS = """
import json, sys
from search import run
from search.experiment import asha
schedulers = []
on_trial_add = asha.ResumableASHAScheduler.on_trial_add
def spy(self, controller, trial):
    on_trial_add(self, controller, trial)
    schedulers.append(self)
asha.ResumableASHAScheduler.on_trial_add = spy
code = run.main(sys.argv[2:])
(bracket,) = schedulers[0]._brackets
with open(sys.argv[1], "w") as f:
    json.dump({str(milestone): recorded for milestone, recorded in bracket._rungs}, f)
sys.exit(code)
"""


class Searches:
    """``python -m search.run`` into one storage path, Ray's session files in a short private folder."""

    def __init__(self, root: Path, ray_tmpdir: str) -> None:
        self.root = root
        self.env = {**os.environ, "RAY_TMPDIR": ray_tmpdir, "PYTHONUNBUFFERED": "1"}

    def run(self, space: Path, *args: str, rungs: Path | None = None) -> subprocess.CompletedProcess[str]:
        """``python -m search.run``; with ``rungs``, ASHA's rungs at the end are written there."""
        entry = ["-m", "search.run"] if rungs is None else ["-c", WITH_ASHA_RUNGS, str(rungs)]
        cmd = [sys.executable, *entry, "--space", str(space), "--storage-path", str(self.root / "out"), *args]
        proc = subprocess.run(cmd, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        return proc

    def study(self, name: str) -> list[optuna.trial.FrozenTrial]:
        url = f"sqlite:///{self.root / 'out' / name / 'study.db'}"
        return optuna.load_study(study_name=name, storage=url).get_trials()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Searches, Path]]:
    """A finished tiny search ``tiny`` (2 trials, 1 confirmation re-run) and its space file."""
    ray_tmpdir = tempfile.mkdtemp(prefix="ftray-", dir="/tmp")
    searches = Searches(tmp_path_factory.mktemp("grow"), ray_tmpdir)
    space = tiny_space(searches.root / "tiny.yaml", "tiny", num_samples=2, confirm=1)
    searches.run(space)
    yield searches, space
    shutil.rmtree(ray_tmpdir, ignore_errors=True)


def _distinct(trials: list[optuna.trial.FrozenTrial]) -> bool:
    return len({json.dumps(t.params, sort_keys=True) for t in trials}) == len(trials)


@pytest.mark.slow
def test_resume_grows_a_finished_search(finished: tuple[Searches, Path]) -> None:
    searches, space = finished
    exp = searches.root / "out" / "tiny"
    before = searches.study("tiny")
    assert len(before) == 2
    reports = {p.name: (p / "result.json").read_text() for p in exp.glob("t0*")}

    proc = searches.run(space, "--resume", "--num-samples", "4", rungs=searches.root / "rungs.json")
    assert "--num-samples 4: the search runs to 4 trials instead of 2 (2 made, 2 to sample)" in proc.stdout
    after = searches.study("tiny")
    # TPE went on in the same study: the old trials as they were, two new ones, no parameter set twice.
    assert len(after) == 4 and [t.params for t in after[:2]] == [t.params for t in before]
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in after)
    assert _distinct(after)
    table = pd.read_csv(exp / "results.csv")
    search = table[table["stage"] == "search"]
    assert len(search) == 4 and table["status"].isin(["TERMINATED", "STOPPED"]).all()
    assert {json.dumps(t.params, sort_keys=True) for t in after} == {
        json.dumps(json.loads(c), sort_keys=True) for c in search["config"]}
    # Finished trials were not retrained; the ranking, confirmation and the winner's bundle were redone.
    assert {name: (exp / name / "result.json").read_text() for name in reports} == reports
    confirm = table[table["stage"] == "confirm"]
    assert len(confirm) >= 1 and set(confirm["config"]) <= set(search["config"])
    assert json.loads((exp / "best" / "metrics.json").read_text())["trial_id"] == table.loc[0, "trial_id"]
    # ASHA compared the new trials with the old ones: its rungs hold every trial (the old ones restored from
    # their result.json), each at its first report at or past the milestone.
    rungs = {float(m): r for m, r in json.loads((searches.root / "rungs.json").read_text()).items()}
    assert set(rungs[1.0]) == set(search["trial_id"])
    metric = yaml.safe_load(space.read_text())["experiment"]["metric"]
    for name, text in reports.items():
        lines = [json.loads(line) for line in text.splitlines()]
        for milestone, recorded in rungs.items():
            reached = [r[metric] for r in lines if r["training_iteration"] >= milestone]
            assert recorded.get(name.split("_", 1)[1]) == (reached[0] if reached else None), (name, milestone)


@pytest.mark.slow
def test_warm_started_search_begins_with_the_earlier_trials(finished: tuple[Searches, Path]) -> None:
    searches, _ = finished
    source = searches.study("tiny")  # 2 trials, or 4 after the growth test
    lrs = sorted(t.params["lr"] for t in source)
    low = (lrs[0] + lrs[1]) / 2  # the new space leaves out the trial with the lowest lr
    space = tiny_space(searches.root / "warm.yaml", "warm", num_samples=1, confirm=0, lr_low=low)

    proc = searches.run(space, "--warm-start", str(searches.root / "out" / "tiny"))
    taken = len(source) - 1
    assert (f"warm start: took {taken} trials from {searches.root / 'out' / 'tiny'}, left out 1 "
            "(1 with lr outside the new space)") in proc.stdout
    trials = searches.study("warm")
    copies, new = trials[:taken], trials[taken:]
    assert len(new) == 1 and all("warm_start" not in t.user_attrs for t in new)
    by_number = {t.number: t for t in source}
    for copy in copies:
        original = by_number[int(copy.user_attrs["warm_start"].rsplit("/", 1)[1])]
        assert (copy.state, copy.params, copy.values, copy.intermediate_values) == (
            original.state, original.params, original.values, original.intermediate_values)
    # The new trial is a new draw, not the source search's first one again (its seeded random start-up).
    assert new[0].params["attr_loss_weight"] not in {t.params["attr_loss_weight"] for t in source}
    table = pd.read_csv(searches.root / "out" / "warm" / "results.csv")
    assert list(table["stage"]) == ["search"] and table.loc[0, "status"] in ("TERMINATED", "STOPPED")
