"""search.report.rungs: how well ASHA's rungs ranked a search's trials, and the warning that names the setting."""

from __future__ import annotations

import pandas as pd
from ray.tune import Result

from search.report import asha_rungs, check_rungs, rung_advice, search_rungs
from search.space import Asha

METRIC = "thresholds/AP_iou_f1"


def _result(values: list[float], diverged: bool = False) -> Result:
    frame = pd.DataFrame({"training_iteration": range(1, len(values) + 1), METRIC: values,
                          "diverged": [0] * (len(values) - 1) + [int(diverged)]})
    return Result(metrics=frame.iloc[-1].to_dict(), checkpoint=None, error=None, path="/x",
                  metrics_dataframe=frame)


def test_rungs_are_the_ones_rays_asha_decides_at() -> None:
    assert asha_rungs(4, 1, 2) == [1, 2]
    assert asha_rungs(12, 2, 3) == [2, 6]
    assert asha_rungs(12, 4, 3) == [4]


def test_a_rung_whose_report_ranks_trials_in_reverse_warns_with_the_setting() -> None:
    # Report 1 ranks the 8 full-budget runs in reverse; from report 2 on they rank as at the end.
    runs = [_result([0.001 * (8 - k), 0.05 * k, 0.08 * k, 0.1 * k]) for k in range(8)]
    runs += [_result([0.9]), _result([0.5, 0.6, 0.7, float("nan")], diverged=True)]  # stopped / diverged: left out
    lines = search_rungs(runs, METRIC, "max", Asha(max_t=4, grace_period=1, reduction_factor=2))
    first, second = lines
    assert first.startswith("WARNING: rung at report 1: rho -1.00 over 8 runs; ranks trials no better than chance")
    assert first.endswith("raise experiment.asha.grace_period to 2 (report 2 ranks them)")
    assert second == "rung at report 2: rho 1.00 over 8 runs; ranks trials better than chance"


def test_lower_is_better_and_too_few_runs() -> None:
    runs = [_result([10.0 - k, 9.0 - k, 8.0 - k, 7.0 - k]) for k in range(6)]  # a loss: lower is better
    (line,) = search_rungs(runs, METRIC, "min", Asha(max_t=4, grace_period=2, reduction_factor=4))
    assert line == "rung at report 2: rho 1.00 over 6 runs; ranks trials better than chance"
    (few,) = search_rungs(runs[:3], METRIC, "min", Asha(max_t=4, grace_period=2, reduction_factor=4))
    assert "too few runs trained the full budget to tell" in few


def test_no_report_ranks_them_points_at_fifo() -> None:
    import random

    rng = random.Random(0)
    finals = [rng.random() for _ in range(30)]
    curves = [[rng.random(), rng.random(), rng.random(), f] for f in finals]
    every = check_rungs(curves, finals, range(1, 4))
    (line,) = rung_advice([every[0]], every, grace_period=1)
    assert line.startswith("WARNING: rung at report 1") and "set experiment.scheduler: fifo" in line
