"""bench/record_curves.py: real training of a tiny recording, its table as search.replay reads it, and resuming."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("detectron2")

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("record_curves", REPO / "bench" / "record_curves.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _tiny_space(path: Path) -> Path:
    """bench/curves/space.yaml at 2 reports of 2 iterations on 8 images of 64 px."""
    space = yaml.safe_load((REPO / "bench" / "curves" / "space.yaml").read_text())
    space["experiment"]["asha"] = {"max_t": 2, "grace_period": 1, "reduction_factor": 2}
    space["train"]["iters_per_report"] = 2
    space["data"].update(images=8, size=64)
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


@pytest.mark.slow
def test_a_recording_trains_every_run_to_the_full_budget_resumes_and_reads_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from search.replay.table import load_curves

    space = _tiny_space(tmp_path / "space.yaml")
    work, table = tmp_path / "work", tmp_path / "curves.csv.gz"
    args = ["--space", str(space), "--configs", "2", "--seeds", "2", "--workers", "2", "--work", str(work),
            "--table", str(table)]
    # The first run of config 1 is already recorded: it is not trained again.
    assert bench.main([*args[:4], "--seeds", "1", "--configs", "2", "--workers", "1", "--work", str(work),
                       "--table", str(tmp_path / "first.csv.gz")]) == 0
    first = {p.name: p.read_text() for p in (work / "runs").glob("*.json")}
    assert sorted(first) == ["c000_s0.json", "c001_s0.json"]
    capsys.readouterr()
    assert bench.main(args) == 0
    assert f"2 runs recorded in {work}, 2 to train" in capsys.readouterr().out
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
    assert bench.main([*args[:-2], "--table", str(again), "--assemble"]) == 0
    assert again.read_bytes() == table.read_bytes()
