"""Faults inside trials: a raising trial and a diverging trial do not stop the search, and the
results table says what happened to each. Real Ray Tune, the project's trainable and data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("detectron2")
ray = pytest.importorskip("ray")

from ray import tune  # noqa: E402

from fashion_core.engine.datasets import prepare_dataset  # noqa: E402
from search.experiment import build_run_config, build_trainable  # noqa: E402
from search.report import results_table, write_results  # noqa: E402
from search.space import parse_space  # noqa: E402

METRIC = "segm/AP_iou_f1"


@pytest.mark.slow
def test_raising_and_diverging_trials_are_recorded_and_the_search_goes_on(tmp_path: Path, ray_tmpdir: str) -> None:
    spec = parse_space(
        {
            "experiment": {"name": "faults", "metric": METRIC, "num_samples": 1, "max_concurrent": 3,
                           "asha": {"max_t": 2}},
            "train": {"config": "tiny_cpu", "iters_per_report": 5,
                      "opts": {"SOLVER.IMS_PER_BATCH": 1, "SOLVER.WARMUP_ITERS": 0}},
            "data": {"images": 8, "size": 96},
            "params": {
                # "ok" trains; "raise" is an invalid head setting (ValueError inside the trial);
                # "diverge" is a learning rate that sends the losses to inf/NaN within a few steps.
                "lr": {"key": "SOLVER.BASE_LR", "type": "choice", "values": [0.01, 50.0]},
                "gamma": {"key": "MODEL.ROI_ATTRIBUTE_HEAD.FOCAL_GAMMA", "type": "choice", "values": [2.0, -1.0]},
            },
        },
        source="faults test",
    )
    dataset = prepare_dataset(None, synthetic_root=tmp_path / "data", synthetic_images=8, synthetic_size=96)
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, _temp_dir=ray_tmpdir)
    try:
        # 2 x 2 grid: (0.01, 2.0) trains; (50, 2.0) diverges; both gamma = -1 trials raise.
        grid = tune.Tuner(
            build_trainable(spec, dataset),
            param_space={"lr": tune.grid_search([0.01, 50.0]), "gamma": tune.grid_search([2.0, -1.0])},
            tune_config=tune.TuneConfig(metric=METRIC, mode="max"),
            run_config=build_run_config(spec, str(tmp_path / "out")),
        ).fit()
    finally:
        ray.shutdown()
    grids = [("search", grid)]
    table = results_table(grids, METRIC, "max", ["lr", "gamma"], seed=0, full_budget=2)
    write_results(table, tmp_path / "report")
    shown = table[["status", "param/lr", "param/gamma", "error"]]
    assert len(table) == 4, shown
    by_case = {(r["param/lr"], r["param/gamma"]): r for _, r in table.iterrows()}
    assert by_case[(0.01, 2.0)]["status"] == "TERMINATED", shown
    diverged = by_case[(50.0, 2.0)]
    assert diverged["status"] == "DIVERGED", shown
    assert "nan" in diverged["error"].lower() or "inf" in diverged["error"].lower(), diverged["error"]
    for lr in (0.01, 50.0):
        failed = by_case[(lr, -1.0)]
        assert failed["status"] == "ERROR", shown
        assert "FOCAL_GAMMA must be >= 0" in failed["error"], failed["error"]
    # The finished trial ranks first; the diverged one below it (reported as the worst value).
    assert table.iloc[0]["status"] == "TERMINATED"
    assert list(table["status"]).index("DIVERGED") > 0
    assert set(pd.read_csv(tmp_path / "report" / "results.csv")["status"]) == {"TERMINATED", "DIVERGED", "ERROR"}
