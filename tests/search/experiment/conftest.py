"""One tiny search shared by the end-to-end tests of this folder (test_moved_e2e.py, test_grow_e2e.py): ``sigint``,
2 trials of 2 reports one at a time, 1 confirmation re-run; stopped with Ctrl-C at its first report and copied
(``sigevil``), then resumed to its end. Tests that change it work on copies of it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.search.tiny_search import Finished, Runs, ctrl_c_when, files, reports, tiny_space, trial_dirs


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    ray_tmpdir = tempfile.mkdtemp(prefix="ftray-", dir="/tmp")
    yield Runs(tmp_path_factory.mktemp("tiny"), {**os.environ, "RAY_TMPDIR": ray_tmpdir, "PYTHONUNBUFFERED": "1"})
    shutil.rmtree(ray_tmpdir, ignore_errors=True)


@pytest.fixture(scope="session")
def interrupted(runs: Runs) -> Path:
    """``sigint`` stopped with Ctrl-C at its first trial's first report, and its copy ``sigevil`` made then.
    Returns the space file."""
    space = tiny_space(runs.root / "tiny.yaml", "sigint", num_samples=2, confirm=1)
    exp = runs.out / "sigint"
    ctrl_c_when(runs.cmd(space), runs.env, lambda: exp.is_dir() and any(len(reports(t)) == 1 for t in trial_dirs(exp)),
                "its first trial's first report")
    assert "INTERRUPTED" in set(pd.read_csv(exp / "results.csv")["status"]), "no trial was cut off"
    runs.copy("sigint", "sigevil")
    return space


@pytest.fixture(scope="session")
def finished(runs: Runs, interrupted: Path) -> Finished:
    """``sigint`` resumed to its end (after it was copied)."""
    proc = runs.run(interrupted, "--name", "sigint", "--resume")
    assert "was started at" not in proc.stdout  # where it started: no note
    return Finished(interrupted, files(runs.out / "sigint"))
