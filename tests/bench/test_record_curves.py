"""bench/record_curves.py: real training of a tiny recording, its table as search.replay reads it, and resuming."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("detectron2")

REPO = Path(__file__).resolve().parents[2]


def record_curves(*args: str) -> str:
    """``python bench/record_curves.py *args`` as a user runs it (its workers are spawned processes); stdout."""
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "record_curves.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _tiny_space(path: Path) -> Path:
    """bench/curves/space.yaml at 2 reports of 2 iterations on 8 images of 64 px."""
    space = yaml.safe_load((REPO / "bench" / "curves" / "space.yaml").read_text())
    space["experiment"]["asha"] = {"max_t": 2, "grace_period": 1, "reduction_factor": 2}
    space["train"]["iters_per_report"] = 2
    space["data"].update(images=8, size=64)
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


@pytest.mark.slow
def test_a_recording_trains_every_run_to_the_full_budget_resumes_and_reads_back(tmp_path: Path) -> None:
    from search.replay.table import load_curves

    space = _tiny_space(tmp_path / "space.yaml")
    work, table = tmp_path / "work", tmp_path / "curves.csv.gz"
    args = ["--space", str(space), "--configs", "2", "--seeds", "2", "--workers", "2", "--work", str(work),
            "--table", str(table)]
    # Seed 0 of both configs first: the second call trains only seed 1.
    record_curves("--space", str(space), "--configs", "2", "--seeds", "1", "--workers", "1", "--work", str(work),
                  "--table", str(tmp_path / "first.csv.gz"))
    first = {p.name: p.read_text() for p in (work / "runs").glob("*.json")}
    assert sorted(first) == ["c000_s0.json", "c001_s0.json"]
    assert f"2 runs recorded in {work}, 2 to train" in record_curves(*args)
    assert {p.name: p.read_text() for p in (work / "runs").glob("*_s0.json")} == first

    text = gzip.decompress(table.read_bytes()).decode()
    header = dict(line[2:].split(": ", 1) for line in text.splitlines() if line.startswith("# "))
    assert header["command"].startswith("python bench/record_curves.py --space")
    assert {"commit", "machine", "recorded", "params", "seconds"} <= set(header)
    assert json.loads(header["params"]) == yaml.safe_load(space.read_text())["params"]
    columns = next(line for line in text.splitlines() if not line.startswith("#")).split(",")
    assert columns[:5] == ["config_id", "seed", "report", "iterations", "seconds"]
    assert "thresholds/AP_iou_f1" in columns and "param.lr" in columns

    curves = load_curves(table)
    assert [(r.config_id, r.seed) for r in curves.runs] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for run in curves.runs:  # no early stopping: every run to the full budget, iterations as the schedule gives
        assert [rep.iterations for rep in run.reports] == [2, 4]
        assert all("thresholds/AP_iou_f1" in rep.metrics for rep in run.reports)
    # Inactive conditional parameters are empty cells: a config without a second FC layer has no head_hidden.
    for run in curves.runs:
        assert (run.params.get("head_hidden") is not None) == (run.params["head_depth"] == 2)
    # --assemble rebuilds the same bytes without training.
    again = tmp_path / "again.csv.gz"
    record_curves(*args[:-2], "--table", str(again), "--assemble")
    assert again.read_bytes() == table.read_bytes()
