"""The tiny search the end-to-end tests share (``python -m search.run`` as a user runs it), and what
they look at: trial folders, reports, studies, every file of a folder."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
import yaml

from fashion_core.engine.trial_setup import SEED_KEY

__all__ = [
    "FINISHED",
    "METRIC",
    "REPO",
    "SEED_KEY",
    "SMOKE",
    "Finished",
    "Payload",
    "Runs",
    "check_own",
    "ctrl_c_when",
    "distinct",
    "files",
    "reports",
    "search_run",
    "study",
    "tiny_space",
    "trial_dirs",
]

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "spaces" / "smoke.yaml"
METRIC = "thresholds/AP_iou_f1"
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def tiny_space(path: Path, name: str, num_samples: int, confirm: int, *, lr_low: float | None = None,
               max_t: int = 2, grace_period: int = 1) -> Path:
    """smoke.yaml at the smallest budget with ASHA rungs and a checkpoint to resume from: ``max_t`` reports of 5
    iterations, 12 images; one trial at a time (an interrupted search then has a trial waiting for its place);
    ``grace_period`` = ``max_t``: no trial stopped early."""
    space = yaml.safe_load(SMOKE.read_text())
    space["experiment"].update(name=name, num_samples=num_samples, max_concurrent=1,
                               confirm={"top": confirm, "seeds": 1},
                               asha={"max_t": max_t, "grace_period": grace_period, "reduction_factor": 2})
    space["train"]["iters_per_report"] = 5
    space["data"]["images"] = 12
    if lr_low is not None:
        space["params"]["lr"]["low"] = lr_low
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


def search_run(space: Path, storage: Path, *args: str, ray_tmpdir: str, script: str | None = None,
               expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    """``python -m search.run --space space --storage-path storage *args`` (or ``python -c script`` with the
    same arguments), Ray's session files in ``ray_tmpdir``; its exit code must be ``expect`` (None: any)."""
    entry = ["-m", "search.run"] if script is None else ["-c", script]
    cmd = [sys.executable, *entry, "--space", str(space), "--storage-path", str(storage), *args]
    env = {**os.environ, "RAY_TMPDIR": ray_tmpdir, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if expect is not None:
        assert proc.returncode == expect, f"exit {proc.returncode}\n" + proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


def ctrl_c_when(cmd: list[str], env: dict[str, str], ready: Callable[[], bool], waiting_for: str) -> tuple[str, str]:
    """Start the search ``cmd`` (in the repository, with ``env``), press Ctrl-C as soon as ``ready()`` holds (within
    10 minutes), and wait for it to stop with exit code 130, as an interrupted search ends. Its stdout and stderr."""
    driver = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        happened = False
        while time.monotonic() < deadline and driver.poll() is None and not happened:
            happened = ready()
            if not happened:
                time.sleep(0.2)
        assert happened and driver.poll() is None, f"the search ended, or 10 minutes passed, before {waiting_for}"
        driver.send_signal(signal.SIGINT)
        out, err = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, out[-3000:] + err[-3000:]
    return out, err


@dataclass(frozen=True)
class Finished:
    """A finished tiny search (``tests/search/experiment/conftest.py``'s ``sigint``): its space file and every file
    of its folder when it had finished."""

    space: Path
    files: dict[str, str]


@dataclass
class Runs:
    """``python -m search.run`` into one storage path (``root/out``), Ray's session files in a short private folder."""

    root: Path
    env: dict[str, str]

    @property
    def out(self) -> Path:
        return self.root / "out"

    def cmd(self, space: Path, *args: str, entry: tuple[str, ...] = ("-m", "search.run")) -> list[str]:
        return [sys.executable, *entry, "--space", str(space), "--storage-path", str(self.out), *args]

    def run(self, space: Path, *args: str, entry: tuple[str, ...] = ("-m", "search.run")
            ) -> subprocess.CompletedProcess[str]:
        """The command, which must succeed."""
        proc = subprocess.run(self.cmd(space, *args, entry=entry), cwd=REPO, env=self.env, capture_output=True,
                              text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        return proc

    def copy(self, name: str, to: str) -> Path:
        """``cp -r`` the experiment folder ``name`` to ``to``, as a user copies one."""
        subprocess.run(["cp", "-r", str(self.out / name), str(self.out / to)], check=True)
        return self.out / to


def files(folder: Path) -> dict[str, str]:
    """Every file under ``folder``, by its path there, with its content's hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def study(folder: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    """The trials of the study ``name`` in ``folder``'s study.db."""
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}").get_trials()


def reports(trial: Path) -> list[dict[str, float]]:
    """The reports in a trial folder's result.json."""
    path = trial / "result.json"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []


def trial_dirs(folder: Path) -> list[Path]:
    """The search trials' folders of an experiment folder."""
    return sorted(p for p in folder.glob("t0*") if (p / "params.json").is_file())


def distinct(trials: list[optuna.trial.FrozenTrial]) -> bool:
    """No parameter set twice."""
    return len({json.dumps(t.params, sort_keys=True) for t in trials}) == len(trials)


class Payload:
    """A pickle that, when loaded, writes ``marker``: what an attacker plants as Tune's saved searcher state."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def check_own(folder: Path, study_name: str, trials: int) -> pd.DataFrame:
    """The experiment in ``folder`` finished in its own study and folder: each of its ``trials`` search trials is a
    finished trial of the study there (no parameters twice), a row of its results.csv with a value, and a folder
    whose reports went on from its checkpoints (each report once); best/ is its winner and names its own data.
    Returns results.csv."""
    table = pd.read_csv(folder / "results.csv")
    search = table[table["stage"] == "search"]
    assert len(search) == trials and search["status"].isin(["TERMINATED", "STOPPED"]).all(), table
    assert all(math.isfinite(v) for v in search[METRIC]), search[["trial", METRIC]]
    in_study = study(folder, study_name)
    assert sorted(t.user_attrs["trial_id"] for t in in_study) == sorted(search["trial_id"])
    assert all(t.state in FINISHED for t in in_study), [t.state for t in in_study]
    assert distinct(in_study), "a config drawn twice"
    assert {json.dumps(t.params, sort_keys=True) for t in in_study} == {
        json.dumps(json.loads(c), sort_keys=True) for c in search["config"]}
    assert json.loads((folder / "best" / "metrics.json").read_text())["trial_id"] == table.loc[0, "trial_id"]
    data = json.loads((folder / "best" / "dataset.json").read_text())
    assert data["annotations"].startswith(f"{folder}/"), data
    for trial in trial_dirs(folder):
        iterations = [r["training_iteration"] for r in reports(trial)]
        assert iterations and iterations == sorted(set(iterations)), (trial.name, iterations)
    return table
