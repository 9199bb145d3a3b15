"""The thresholds a config applies, read and written in one place: what the evaluator reads from a real
detectron2 config is what a bundle's ``config.yaml`` was given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fashion_core.bundle_format import ChosenThresholds
from fashion_core.evaluation.config_thresholds import (
    ConfigThresholds,
    chosen_config_thresholds,
    config_thresholds,
    write_config_thresholds,
)


def test_a_chosen_cell_becomes_the_config_keys_in_class_index_order() -> None:
    chosen = ChosenThresholds(0.3, 0.5, {20: 0.7, 0: 0.4}, expected=0.2)
    applied = chosen_config_thresholds(chosen, class_ids=[0, 5, 20])
    # Class index 1 (category 5) has no threshold of its own: it keeps the cell's.
    assert applied == ConfigThresholds(0.3, 0.5, (0.4, 0.5, 0.7))
    assert applied.by_category([0, 5, 20]) == {0: 0.4, 5: 0.5, 20: 0.7}


def test_written_into_a_config_file_and_read_back_by_detectron2(tmp_path: Path) -> None:
    pytest.importorskip("detectron2")
    from fashion_core.modeling import build_attribute_cfg, packaged_config

    base = build_attribute_cfg(packaged_config("tiny_cpu.yaml"))
    assert config_thresholds(base).per_class == ()  # the default: SCORE_THRESH for every class
    loaded: dict[str, Any] = yaml.safe_load(base.dump())
    applied = ConfigThresholds(0.3, 0.6, tuple(0.1 + i / 100 for i in range(base.MODEL.ROI_HEADS.NUM_CLASSES)))
    write_config_thresholds(loaded, applied)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(loaded))
    cfg = build_attribute_cfg(tmp_path / "config.yaml")  # validated by the attribute config
    assert cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == 0.3 and cfg.MODEL.ROI_ATTRIBUTE_HEAD.SCORE_THRESH == 0.6
    assert config_thresholds(cfg) == applied
