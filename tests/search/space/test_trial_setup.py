"""One TrialSetup from a space, for the tuner's trials and the preflight's configs alike."""

from __future__ import annotations

from pathlib import Path

from fashion_core.data import DatasetSpec
from search.space import load_space, trial_setup

REPO = Path(__file__).resolve().parents[3]


def test_the_setup_carries_the_space() -> None:
    spec = load_space(REPO / "spaces" / "smoke.yaml")
    dataset = DatasetSpec(format="kaggle", annotations="/d/train.csv", image_dir="/d/train")
    setup = trial_setup(spec, dataset)
    assert setup.config == "tiny_cpu" and setup.dataset == dataset and setup.seed == 0
    assert dict(setup.param_keys)["lr"] == "SOLVER.BASE_LR" and setup.fixed == spec.train.opts
    assert setup.sweep == ((0.05, 0.3, 0.5), (0.3, 0.5, 0.7))  # posthoc in smoke.yaml
    assert (setup.iters_per_report, setup.max_reports) == (25, 4)
    assert (setup.metric, setup.mode) == ("thresholds/AP_iou_f1", "max")
    # The preflight's: another base config, no data; everything else the same.
    other = trial_setup(spec, None, config="mask_rcnn_R_50_FPN")
    assert other.config == "mask_rcnn_R_50_FPN" and other.dataset is None
    assert other.param_keys == setup.param_keys and other.sweep == setup.sweep
    base, overrides = other.overrides({"lr": 0.01})
    assert base == "mask_rcnn_R_50_FPN" and ("SOLVER.BASE_LR", 0.01) in overrides
