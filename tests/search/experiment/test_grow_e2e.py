"""Grow a finished search and warm-start a new one from it, end to end on the CPU (real Tune, Optuna, detectron2).

Both work on one copy (``cp -r``) of the finished tiny search ``sigint`` of conftest.py (2 trials of 2 reports, 1
confirmation re-run), as a user copies a search to try other settings: the copy is grown (through
:data:`WITH_ASHA_RUNGS`, which also reads ASHA's rungs at the end), then a new search is warm-started from it;
the original's files stay as they were.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("detectron2")
pytest.importorskip("ray")

import pandas as pd

from tests.search.tiny_search import SEED_KEY, Finished, Runs, check_own, files, reports, study, tiny_space, trial_dirs

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


@pytest.fixture(scope="module")
def grown(runs: Runs, finished: Finished) -> Path:
    """The copy ``grown`` of the finished search (the growth test grows it)."""
    return runs.copy("sigint", "grown")


@pytest.mark.slow
def test_resume_grows_a_copied_finished_search(runs: Runs, finished: Finished, grown: Path) -> None:
    before = study(grown, "sigint")
    assert len(before) == 2
    old = {p.name: (p / "result.json").read_text() for p in trial_dirs(grown)}
    # Another setting for the copy: every finished config is confirmed (tiny runs tie at 0; ties go to the
    # earliest trial, so the new one is confirmed only so).
    wide = tiny_space(runs.root / "wide.yaml", "sigint", num_samples=2, confirm=3)

    rungs_file = runs.root / "rungs.json"
    proc = runs.run(wide, "--name", "grown", "--resume", "--num-samples", "3",
                    entry=("-c", WITH_ASHA_RUNGS, str(rungs_file)))
    assert "--num-samples 3: the search runs to 3 trials instead of 2 (2 made, 1 to sample)" in proc.stdout
    assert "=== confirmation: 2 more trial(s), for best configs the grown search found ===" in proc.stdout
    # TPE went on in the copy's study: the old trials as they were, a new one, no parameter set twice; each
    # trial a row of the copy's results.csv with its value, best/ redone from the grown ranking.
    table = check_own(grown, "sigint", trials=3)
    after = study(grown, "sigint")
    assert [t.params for t in after[:2]] == [t.params for t in before]
    search = table[table["stage"] == "search"]
    new = search[search["trial"].str.startswith("t003_")]
    assert len(new) == 1 and (grown / new["trial"].iloc[0] / "result.json").is_file()
    # Finished trials were not retrained; the confirmation stage re-ran the new trial's config too, in the copy.
    assert {name: (grown / name / "result.json").read_text() for name in old} == old
    confirm = table[table["stage"] == "confirm"]
    sampled = [{k: v for k, v in json.loads(c).items() if k != SEED_KEY} for c in confirm["config"]]
    assert len(confirm) == 3 and sampled.count(json.loads(new["config"].iloc[0])) == 1, sampled
    assert all((grown / "confirm" / trial).is_dir() for trial in confirm["trial"])
    # ASHA compared the new trial with the old ones: its rungs hold every trial (the old ones restored from
    # their result.json), each at its first report at or past the milestone.
    rungs = {float(m): r for m, r in json.loads(rungs_file.read_text()).items()}
    assert set(rungs[1.0]) == set(search["trial_id"])
    metric = yaml.safe_load(wide.read_text())["experiment"]["metric"]
    for name, text in old.items():
        lines = [json.loads(line) for line in text.splitlines()]
        for milestone, recorded in rungs.items():
            reached = [r[metric] for r in lines if r["training_iteration"] >= milestone]
            assert recorded.get(name.split("_", 1)[1]) == (reached[0] if reached else None), (name, milestone)
    assert all(reports(t) for t in trial_dirs(grown))
    assert files(runs.out / "sigint") == finished.files


@pytest.mark.slow
def test_warm_started_search_begins_with_the_earlier_trials(runs: Runs, finished: Finished, grown: Path) -> None:
    source = study(grown, "sigint")  # 2 trials, or 3 after the growth test (the original has 2)
    copied = files(grown)
    lrs = sorted(t.params["lr"] for t in source)
    low = (lrs[0] + lrs[1]) / 2  # the new space leaves out the trial with the lowest lr
    space = tiny_space(runs.root / "warm.yaml", "warm", num_samples=1, confirm=0, lr_low=low, max_t=1)

    proc = runs.run(space, "--warm-start", str(grown))
    taken = len(source) - 1
    assert (f"warm start: took {taken} trials from {grown}, left out 1 "
            "(1 with lr outside the new space)") in proc.stdout
    trials = study(runs.out / "warm", "warm")
    copies, new = trials[:taken], trials[taken:]
    assert len(new) == 1 and all("warm_start" not in t.user_attrs for t in new)
    by_number = {t.number: t for t in source}
    for copy in copies:
        original = by_number[int(copy.user_attrs["warm_start"].rsplit("/", 1)[1])]
        assert (copy.state, copy.params, copy.values, copy.intermediate_values) == (
            original.state, original.params, original.values, original.intermediate_values)
    # The new trial is a new draw, not the source search's first one again (its seeded random start-up).
    assert new[0].params["attr_loss_weight"] not in {t.params["attr_loss_weight"] for t in source}
    table = pd.read_csv(runs.out / "warm" / "results.csv")
    assert list(table["stage"]) == ["search"] and table.loc[0, "status"] in ("TERMINATED", "STOPPED")
    # The source was only read; the original of the copy is as it was.
    assert files(grown) == copied
    assert files(runs.out / "sigint") == finished.files
