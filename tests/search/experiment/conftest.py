"""One tiny search shared by the end-to-end tests of this folder (test_moved_e2e.py, test_grow_e2e.py): ``sigint``,
2 trials of 2 reports one at a time, 1 confirmation re-run; stopped with Ctrl-C at its first report and copied
(``sigevil``), then resumed to its end. Tests that change it work on copies of it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.search.tiny_search import REPO, Finished, Runs, files, reports, tiny_space, trial_dirs


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
    driver = subprocess.Popen(runs.cmd(space), cwd=REPO, env=runs.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and driver.poll() is None:
            if exp.is_dir() and any(len(reports(t)) == 1 for t in trial_dirs(exp)):
                break
            time.sleep(0.2)
        assert driver.poll() is None, "the search ended before it could be interrupted"
        driver.send_signal(signal.SIGINT)
        out, err = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, out[-3000:] + err[-3000:]
    assert "INTERRUPTED" in set(pd.read_csv(exp / "results.csv")["status"]), "no trial was cut off"
    runs.copy("sigint", "sigevil")
    return space


@pytest.fixture(scope="session")
def finished(runs: Runs, interrupted: Path) -> Finished:
    """``sigint`` resumed to its end (after it was copied)."""
    proc = runs.run(interrupted, "--name", "sigint", "--resume")
    assert "was started at" not in proc.stdout  # where it started: no note
    return Finished(interrupted, files(runs.out / "sigint"))
