"""Effective configs: overrides land, and what is requested is checked against what is in effect."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("detectron2")

from fashion_core.engine.setup import ConfigMismatchError, build_config, resolve_config
from fashion_core.engine.trial_setup import TrialSetup
from fashion_core.train import parse_opts


def _build(overrides: list[tuple[str, object]], tmp_path: Path):  # type: ignore[no-untyped-def]
    return build_config("tiny_cpu", overrides, output_dir=tmp_path, train_dataset="a", test_dataset="b", seed=3)


def test_overrides_in_effect(tmp_path: Path) -> None:
    cfg = _build([("SOLVER.BASE_LR", 0.02), ("MODEL.ROI_ATTRIBUTE_HEAD.LOSS", "focal"),
                  ("MODEL.ROI_ATTRIBUTE_HEAD.NUM_FC", 1), ("MODEL.ROI_ATTRIBUTE_HEAD.FOCAL_GAMMA", 1)], tmp_path)
    assert cfg.SOLVER.BASE_LR == 0.02
    assert cfg.MODEL.ROI_ATTRIBUTE_HEAD.LOSS == "focal"
    assert cfg.MODEL.ROI_ATTRIBUTE_HEAD.NUM_FC == 1
    # An int where the config holds a float (YAML `1`, an Optuna int) becomes that float.
    assert cfg.MODEL.ROI_ATTRIBUTE_HEAD.FOCAL_GAMMA == 1.0
    assert cfg.DATASETS.TRAIN == ("a",) and cfg.DATASETS.TEST == ("b",)
    assert cfg.SEED == 3 and cfg.OUTPUT_DIR == str(tmp_path)


def test_mismatch_is_caught(tmp_path: Path) -> None:
    # A request that a later step overwrites (here the run's own dataset keys) is not in effect.
    with pytest.raises(ConfigMismatchError, match=r"DATASETS.TEST is \('b',\) in effect, but \('x',\) was requested"):
        _build([("DATASETS.TEST", ("x",))], tmp_path)
    with pytest.raises(ValueError, match="unknown config key SOLVER.BASE_LRR"):
        _build([("SOLVER.BASE_LRR", 0.02)], tmp_path)
    # The last request for a key is the one that must hold.
    assert _build([("SOLVER.BASE_LR", 0.5), ("SOLVER.BASE_LR", 0.02)], tmp_path).SOLVER.BASE_LR == 0.02
    # yacs' coercion as merge_from_list applies it: a list where the config holds a tuple.
    assert _build([("SOLVER.STEPS", [10, 20])], tmp_path).SOLVER.STEPS == (10, 20)
    with pytest.raises(ValueError, match="SOLVER.BASE_LR"):
        _build([("SOLVER.BASE_LR", "fast")], tmp_path)


def test_unknown_key_and_bad_value_fail(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown config key SOLVER.NOPE"):
        _build([("SOLVER.NOPE", 1)], tmp_path)
    with pytest.raises(ValueError, match="MODEL.ROI_ATTRIBUTE_HEAD.NUM_FC must be 1 or 2"):
        _build([("MODEL.ROI_ATTRIBUTE_HEAD.NUM_FC", 3)], tmp_path)


def test_resolve_config(tmp_path: Path) -> None:
    assert resolve_config("tiny_cpu").name == "tiny_cpu.yaml"
    with pytest.raises(FileNotFoundError, match="available"):
        resolve_config("tiny_gpu")
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_config(str(tmp_path / "x.yaml"))


def test_trial_overrides_order_and_unknown_names() -> None:
    setup = TrialSetup(config="tiny_cpu", fixed=(("SOLVER.IMS_PER_BATCH", 2),),
                       param_keys=(("lr", "SOLVER.BASE_LR"), ("backbone", "CONFIG")),
                       dataset=None, iters_per_report=25, max_reports=4)  # type: ignore[arg-type]
    config, overrides = setup.overrides({"lr": 0.01, "backbone": "mask_rcnn_R_50_FPN"})
    assert config == "mask_rcnn_R_50_FPN"
    assert overrides == [("SOLVER.IMS_PER_BATCH", 2), ("SOLVER.BASE_LR", 0.01),
                         ("SOLVER.MAX_ITER", 100), ("TEST.EVAL_PERIOD", 25),
                         # R50's 1x schedule (60k, 80k of 90k; warm-up 1k) scaled to 100 iterations.
                         ("SOLVER.STEPS", (67, 89)), ("SOLVER.WARMUP_ITERS", 1)]
    with pytest.raises(KeyError, match="'momentum' is not in the search space"):
        setup.overrides({"momentum": 0.9})


def test_parse_opts() -> None:
    assert parse_opts(["SOLVER.BASE_LR", "0.01", "MODEL.ROI_ATTRIBUTE_HEAD.LOSS", "focal", "INPUT.MIN_SIZE_TRAIN",
                       "(128,)"]) == [("SOLVER.BASE_LR", 0.01), ("MODEL.ROI_ATTRIBUTE_HEAD.LOSS", "focal"),
                                      ("INPUT.MIN_SIZE_TRAIN", (128,))]
    with pytest.raises(ValueError, match="KEY VALUE pairs"):
        parse_opts(["SOLVER.BASE_LR"])
