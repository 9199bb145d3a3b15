"""A trial's learning-rate schedule scales with its budget and is what the saved config and detectron2 use."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

pytest.importorskip("detectron2")

import torch
from detectron2.solver import build_lr_scheduler

from fashion_core.engine.schedule import scaled_schedule, trial_schedule
from fashion_core.engine.setup import build_config, resolve_config
from fashion_core.engine.trial_setup import TrialSetup
from fashion_core.modeling import build_attribute_cfg


def _setup(config: str, iters_per_report: int, max_reports: int,
           fixed: tuple[tuple[str, object], ...] = (),
           param_keys: tuple[tuple[str, str], ...] = (("lr", "SOLVER.BASE_LR"),)) -> TrialSetup:
    return TrialSetup(config=config, fixed=fixed, param_keys=param_keys, dataset=None,  # type: ignore[arg-type]
                      iters_per_report=iters_per_report, max_reports=max_reports)


def test_detectron2_1x_steps_scale_to_two_thirds_and_eight_ninths() -> None:
    base = build_attribute_cfg(resolve_config("mask_rcnn_R_50_FPN"))
    assert (base.SOLVER.STEPS, base.SOLVER.MAX_ITER, base.SOLVER.WARMUP_ITERS) == ((60000, 80000), 90000, 1000)
    # full.yaml's trials: max_t 12 x 2,500 iterations.
    assert dict(scaled_schedule(base, 30000)) == {"SOLVER.STEPS": (20000, 26667), "SOLVER.WARMUP_ITERS": 333}
    # The base budget gives back the base schedule.
    assert dict(scaled_schedule(base, 90000)) == {"SOLVER.STEPS": (60000, 80000), "SOLVER.WARMUP_ITERS": 1000}


def test_trial_effective_config_has_the_scaled_schedule_inside_its_budget(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # smoke.yaml's trials: tiny_cpu (STEPS (800,), WARMUP_ITERS 50 of MAX_ITER 1000), 4 reports x 25 iterations.
    config, overrides = _setup("tiny_cpu", 25, 4).overrides({"lr": 0.01})
    cfg = build_config(config, overrides, output_dir=tmp_path, train_dataset="a", test_dataset="b")
    assert cfg.SOLVER.MAX_ITER == 100
    assert cfg.SOLVER.STEPS == (80,) and cfg.SOLVER.WARMUP_ITERS == 5
    assert all(0 < s < cfg.SOLVER.MAX_ITER for s in cfg.SOLVER.STEPS)
    # What run_training saves as the trial's config.yaml (and search/results copies to best_config.yaml).
    assert "STEPS:\n  - 80\n" in cfg.dump() and "WARMUP_ITERS: 5\n" in cfg.dump()

    # detectron2 builds that schedule without dropping a step, and the learning rate does decay.
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.SOLVER.BASE_LR)
    with caplog.at_level(logging.WARNING):
        scheduler = build_lr_scheduler(cfg, optimizer)
    assert "larger than SOLVER.MAX_ITER" not in caplog.text
    lrs = []
    for _ in range(cfg.SOLVER.MAX_ITER):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] < lrs[10] == pytest.approx(0.01)  # warm-up over the first 5 iterations
    assert lrs[79] == pytest.approx(0.01) and lrs[80] == pytest.approx(0.001) and lrs[99] == pytest.approx(0.001)


def test_a_schedule_set_by_the_space_is_kept() -> None:
    fixed = (("SOLVER.STEPS", (30, 60)),)
    setup = _setup("tiny_cpu", 25, 4, fixed=fixed, param_keys=(("warmup", "SOLVER.WARMUP_ITERS"),))
    _, overrides = setup.overrides({"warmup": 7})
    assert [v for k, v in overrides if k == "SOLVER.STEPS"] == [(30, 60)]
    assert [v for k, v in overrides if k == "SOLVER.WARMUP_ITERS"] == [7]
    # Each key on its own: a space that sets only the steps still gets the warm-up scaled.
    _, overrides = _setup("tiny_cpu", 25, 4, fixed=fixed).overrides({"lr": 0.01})
    assert dict(overrides)["SOLVER.WARMUP_ITERS"] == 5 and dict(overrides)["SOLVER.STEPS"] == (30, 60)


def test_a_single_run_keeps_the_config_schedule() -> None:
    _, overrides = _setup("tiny_cpu", 0, 0).overrides({})
    assert overrides == []


def test_a_budget_too_short_for_the_steps_is_named() -> None:
    with pytest.raises(ValueError, match=r"SOLVER.MAX_ITER = 2 is too short .*SOLVER.STEPS = \(60000, 80000\)"):
        trial_schedule("mask_rcnn_R_50_FPN", 2)
    assert dict(trial_schedule("mask_rcnn_R_50_FPN", 9))["SOLVER.STEPS"] == (6, 8)
