"""Copied experiment folders, end to end on the CPU (``python -m search.run`` as a user runs it; real Tune, Optuna,
detectron2): a copy goes on in its own study and folder, and the original is not touched (issue 27); ``--resume``
runs nothing of Tune's saved searcher state, and the resumed search draws no config twice (issue 26, item 1).

Both work on copies of the tiny search ``sigint`` of conftest.py: one made while it was interrupted (resumed after
the original was), one of it finished. Growing a copy and warm-starting from one: test_grow_e2e.py.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

pytest.importorskip("detectron2")
pytest.importorskip("ray")

import optuna

from search.experiment import signing
from tests.search.tiny_search import Finished, Payload, Runs, check_own, files, study


def plant_payloads(folder: Path, marker: Path) -> list[Path]:
    """Replace Tune's saved search state in ``folder`` (the search's and the confirmation stage's: the searcher
    and the search algorithm around it) with pickles that write ``marker`` when loaded, signed with this
    session's key: ``--resume`` refuses an unsigned or changed one (tests/faults/test_signed_resume.py), and
    these tests show that it never unpickles them even when they pass that check."""
    planted = [*folder.glob("searcher-state-*.pkl"), *folder.glob("search_gen_state-*.json"),
               *folder.glob("confirm/searcher-state-*.pkl"), *folder.glob("confirm/search_gen_state-*.json")]
    key = signing.load_key()
    for path in planted:
        data = pickle.dumps(Payload(marker))
        path.write_bytes(data)
        fs, root = signing.storage_of(str(path.parent))
        signing._sign(fs, root, str(path.parent), {path.name: data}, key)
    return planted


@pytest.mark.slow
def test_a_copy_of_an_interrupted_search_goes_on_in_its_own_study(runs: Runs, finished: Finished) -> None:
    copy = runs.out / "sigevil"
    # The copy's trial is still running in its own study, though the original's are finished (a copy of a
    # resumed original once ended in Optuna's UpdateFinishedTrialError: it reported into the original's study).
    assert optuna.trial.TrialState.RUNNING in {t.state for t in study(copy, "sigint")}
    marker = runs.root / "payload-ran-interrupted"
    assert len(plant_payloads(copy, marker)) >= 2  # the search's (the confirmation stage had not started)

    proc = runs.run(finished.space, "--name", "sigevil", "--resume")
    assert (f"{copy} was started at {runs.out / 'sigint'}: it goes on in its own study.db (study 'sigint') and "
            f"folder; nothing in {runs.out / 'sigint'} is read or written") in proc.stdout.splitlines()
    assert f"study: sqlite:///{copy / 'study.db'} (study 'sigint')" in proc.stdout
    assert not marker.exists()
    # The cut-off trial went on from its checkpoint, the second one was drawn anew: 2 trials, none twice.
    check_own(copy, "sigint", trials=2)
    assert files(runs.out / "sigint") == finished.files


@pytest.mark.slow
def test_a_copy_of_a_finished_search_resumes_on_its_own(runs: Runs, finished: Finished) -> None:
    copy = runs.copy("sigint", "copied")
    marker = runs.root / "payload-ran-finished"
    planted = plant_payloads(copy, marker)  # every session's (the first one's and the resume's)
    assert {p.parent.name for p in planted} == {"copied", "confirm"} and len(planted) >= 4, planted

    proc = runs.run(finished.space, "--name", "copied", "--resume")
    assert f"{copy} was started at {runs.out / 'sigint'}" in proc.stdout and not marker.exists()
    check_own(copy, "sigint", trials=2)
    assert files(runs.out / "sigint") == finished.files
