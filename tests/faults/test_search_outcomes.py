"""Issue 13 items 5 and 7, end to end (``python -m search.run`` in a subprocess, real Ray Tune + detectron2):

* Ctrl-C: the search exits 130, names ``--resume`` (not ``Tuner.restore``), results.csv says INTERRUPTED.
* A truncated latest checkpoint in the experiment's storage folder: ``--resume`` continues the trial
  from the previous checkpoint, not from iteration 0, and it finishes all its reports.
* A search in which every trial fails exits 1 and says why; no best_config.yaml is announced.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.search.tiny_search import ctrl_c_when, reports

pytest.importorskip("detectron2")
pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[2]
MAX_T = 8
IPR = 4  # training iterations per report


def _space(tmp_path: Path, name: str, params: dict[str, object]) -> Path:
    space = {
        "experiment": {"name": name, "metric": "segm/AP_iou_f1", "num_samples": 1, "max_concurrent": 1,
                       "confirm": {"top": 0},
                       "max_failures": 0, "keep_checkpoints": MAX_T, "asha": {"max_t": MAX_T, "grace_period": MAX_T}},
        "train": {"config": "tiny_cpu", "iters_per_report": IPR,
                  "opts": {"SOLVER.IMS_PER_BATCH": 1, "DATALOADER.NUM_WORKERS": 0, "SOLVER.WARMUP_ITERS": 0}},
        "data": {"images": 6, "size": 64},
        "params": params,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


def _cmd(space: Path, tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "search.run", "--space", str(space), "--storage-path", str(tmp_path / "out"), *args]


def _env(ray_tmpdir: str) -> dict[str, str]:
    return {**os.environ, "RAY_TMPDIR": ray_tmpdir, "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
def test_ctrl_c_then_resume_past_a_truncated_checkpoint(tmp_path: Path, ray_tmpdir: str) -> None:
    space = _space(tmp_path, "cut", {"lr": {"key": "SOLVER.BASE_LR", "type": "choice", "values": [0.01]}})
    exp = tmp_path / "out" / "cut"
    def trials() -> list[Path]:
        return [p for p in exp.glob("*") if (p / "params.json").is_file()] if exp.is_dir() else []

    out, err = ctrl_c_when(_cmd(space, tmp_path), _env(ray_tmpdir),
                           lambda: bool(trials()) and len(reports(trials()[0])) >= 2, "a trial reported twice")
    trial = trials()[0]
    assert "--resume" in err and "Tuner.restore" not in out + err, err[-3000:]
    assert pd.read_csv(exp / "results.csv")["status"].tolist() == ["INTERRUPTED"]

    # Tune's latest checkpoint is the one of the last recorded report (a later folder may exist whose
    # report the interruption cut off); truncate it, as a killed writer would.
    done_before = len(reports(trial))
    latest = trial / f"checkpoint_{done_before - 1:06d}" / "model.pth"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    previous = f"checkpoint_{done_before - 2:06d}"

    proc = subprocess.run(_cmd(space, tmp_path, "--resume"), cwd=REPO, env=_env(ray_tmpdir), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # The trial tells it in its own log (the console stays quiet: README, "A quiet console").
    logs = (trial / "train" / "log.txt").read_text() + proc.stdout + proc.stderr
    assert "is unreadable; resuming from" in logs and previous in logs, logs[-4000:]
    assert "starts over" not in logs
    table = pd.read_csv(exp / "results.csv")
    assert table["status"].tolist() == ["TERMINATED"] and table["reports"].tolist() == [MAX_T], table
    # The resumed run went on from the previous checkpoint, not from 0: that checkpoint was written at
    # report n-1 (iteration (n-1)*IPR), so the first report after it is at n*IPR (a restart: IPR).
    resumed = reports(trial)[done_before:]
    assert resumed and resumed[0]["iteration"] == done_before * IPR, [r["iteration"] for r in resumed]


@pytest.mark.slow
def test_search_in_which_every_trial_fails_exits_non_zero(tmp_path: Path, ray_tmpdir: str) -> None:
    # A learning rate every trial diverges with (the preflight refuses values a config rejects, so the
    # failure has to come from training itself): the trials start, then their losses go non-finite.
    space = _space(tmp_path, "allfail", {"lr": {"key": "SOLVER.BASE_LR", "type": "choice", "values": [50.0]}})
    proc = subprocess.run(_cmd(space, tmp_path), cwd=REPO, env=_env(ray_tmpdir), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no trial produced a result") and "DIVERGED" in last, last
    assert "the winner:" not in proc.stdout and not (tmp_path / "out" / "allfail" / "best").exists()
    assert pd.read_csv(tmp_path / "out" / "allfail" / "results.csv")["status"].tolist() == ["DIVERGED"]
