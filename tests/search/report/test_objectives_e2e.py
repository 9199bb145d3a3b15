"""A two-objective search end to end (``python -m search.run``, real Ray Tune, Optuna TPE, ASHA, detectron2):
accuracy against inference time, on a tiny space (2 trials of at most 2 reports of 4 iterations)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytest.importorskip("detectron2")
pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[3]
AP, MS = "thresholds/AP_iou_f1", "time/inference_ms_per_image"
MAX_T = 2


@pytest.mark.slow
def test_two_objective_search(tmp_path: Path, ray_tmpdir: str) -> None:
    import optuna

    space = {
        "experiment": {
            "name": "two", "num_samples": 2, "max_concurrent": 2, "confirm": {"top": 0},
            "objectives": [{"metric": AP, "mode": "max"}, {"metric": MS, "mode": "min"}],
            "asha": {"max_t": MAX_T, "grace_period": 1, "reduction_factor": 2},
            "thresholds": {"mode": "posthoc", "score_grid": [0.05, 0.5], "attribute_grid": [0.5]},
        },
        "train": {"config": "tiny_cpu", "iters_per_report": 4,
                  "opts": {"SOLVER.IMS_PER_BATCH": 1, "DATALOADER.NUM_WORKERS": 0}},
        "data": {"images": 8, "size": 64},
        "params": {"head_depth": {"key": "MODEL.ROI_ATTRIBUTE_HEAD.NUM_FC", "type": "choice", "values": [1, 2]},
                   "lr": {"key": "SOLVER.BASE_LR", "type": "loguniform", "low": 0.003, "high": 0.01}},
    }
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(space))
    cmd = [sys.executable, "-m", "search.run", "--space", str(path), "--storage-path", str(tmp_path / "out")]
    env = {**os.environ, "RAY_TMPDIR": ray_tmpdir, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    (tmp_path / "console.txt").write_text(proc.stdout + proc.stderr)  # for a look after a failure
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    exp = tmp_path / "out" / "two"

    table = pd.read_csv(exp / "results.csv")
    assert len(table) == 2 and table["status"].isin(["TERMINATED", "STOPPED"]).all(), table[["status", "error"]]
    # Every report carries the inference time per image and the parameter count; two FC layers are more.
    assert (table[MS] > 0).all() and (table["model/params"] > 0).all()
    params = table.groupby("param/head_depth")["model/params"].agg(["min", "max"])
    assert (params["min"] == params["max"]).all() and params["min"].is_monotonic_increasing, params
    # Ranked by the first objective; the Pareto column marks the trials no other trial beats on both.
    assert table[AP].tolist() == sorted(table[AP], reverse=True)
    points = list(zip(table[AP], table[MS], strict=True))
    for (ap, ms), marked in zip(points, table["pareto"], strict=True):
        beaten = any(a >= ap and m <= ms and (a > ap or m < ms) for a, m in points)
        assert marked == (not beaten), (table[[AP, MS, "pareto"]], ap, ms)
    # The winner (best/) is the first objective's best.
    best = json.loads((exp / "best" / "metrics.json").read_text())
    assert best["metric"] == AP and best["trial_id"] == table.loc[0, "trial_id"]
    assert (exp / "plots" / "pareto.png").stat().st_size > 1000

    study = optuna.load_study(study_name="two", storage=f"sqlite:///{exp / 'study.db'}")
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert study.metric_names == [AP, MS]
    trials = study.get_trials(deepcopy=False)
    reports = {(int(r["param/head_depth"]), float(r["param/lr"])): int(r["reports"]) for _, r in table.iterrows()}
    assert sorted(reports) == sorted((t.params["head_depth"], t.params["lr"]) for t in trials)
    for t in trials:
        done = reports[(t.params["head_depth"], t.params["lr"])]
        assert t.intermediate_values == {}  # Optuna keeps none for several objectives
        if done == MAX_T:
            assert t.state == optuna.trial.TrialState.COMPLETE and len(t.values) == 2 and t.values[1] > 0, t
        else:  # stopped by ASHA
            assert t.state == optuna.trial.TrialState.PRUNED and t.user_attrs["reports"] == done, t
