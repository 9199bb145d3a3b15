"""Packaged configs and the MODEL.ROI_ATTRIBUTE_HEAD subtree: merge, validation, model-zoo URLs, builds."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from detectron2 import model_zoo
from detectron2.config import CfgNode, get_cfg
from detectron2.modeling import build_model

from fashion_core.modeling import (
    AttributeROIHeads,
    add_attribute_config,
    build_attribute_cfg,
    packaged_config,
)

MODELS = {
    "mask_rcnn_R_50_FPN.yaml": "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml",
    "mask_rcnn_R_101_FPN.yaml": "COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml",
    "mask_rcnn_X_101_32x8d_FPN.yaml": "COCO-InstanceSegmentation/mask_rcnn_X_101_32x8d_FPN_3x.yaml",
}
PACKAGED = ["Base-Attribute-RCNN-FPN.yaml", "tiny_cpu.yaml", *MODELS]


@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_yaml_opens_with_its_purpose_and_comments_every_value(name: str) -> None:
    lines = packaged_config(name).read_text().splitlines()
    assert lines[0].startswith("# ")
    for i, line in enumerate(lines):
        if re.match(r"^\s*[A-Z_]+:\s*\S", line):  # a key set to a value (not a section header)
            assert lines[i - 1].strip().startswith("#"), f"{name}:{i + 1} {line!r} has no comment above it"


@pytest.mark.parametrize("name", list(MODELS))
def test_model_configs_start_from_detectron2s_published_coco_checkpoint(name: str) -> None:
    cfg = build_attribute_cfg(packaged_config(name))
    # model_zoo only formats the URL (no download).
    assert model_zoo.get_checkpoint_url(MODELS[name]) == cfg.MODEL.WEIGHTS
    assert cfg.MODEL.ROI_HEADS.NAME == "AttributeROIHeads"
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 46 and cfg.MODEL.ROI_ATTRIBUTE_HEAD.NUM_ATTRIBUTES == 294
    assert cfg.MODEL.MASK_ON and cfg.INPUT.MASK_FORMAT == "bitmask"


def test_paper_backbones_build_with_the_attribute_branch_on_1024_d_features() -> None:
    for name in MODELS:
        cfg = build_attribute_cfg(packaged_config(name), ["MODEL.DEVICE", "cpu"])
        model = build_model(cfg)
        assert isinstance(model.roi_heads, AttributeROIHeads)
        assert model.roi_heads.attribute_head.hidden[0].in_features == 1024
        del model


def test_tiny_config_is_offline_and_trainable_from_random_init(make_cfg: Callable[..., CfgNode]) -> None:
    cfg = make_cfg()
    assert cfg.MODEL.WEIGHTS == "" and cfg.MODEL.RESNETS.NORM == "BN" and cfg.MODEL.BACKBONE.FREEZE_AT == 0
    assert cfg.MODEL.RESNETS.DEPTH == 18 and cfg.INPUT.MIN_SIZE_TRAIN == (128,)
    assert cfg.is_frozen()


def test_defaults_are_the_papers_shared_2fc_bce_head() -> None:
    cfg = get_cfg()
    add_attribute_config(cfg)
    head = cfg.MODEL.ROI_ATTRIBUTE_HEAD
    assert (head.ENABLED, head.NUM_FC, head.FC_DIM, head.PER_CLASS, head.LOSS) == (
        True,
        2,
        1024,
        False,
        "bce",
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("NUM_FC", 3, "MODEL.ROI_ATTRIBUTE_HEAD.NUM_FC must be 1 or 2 but got 3."),
        ("LOSS", "hinge", "MODEL.ROI_ATTRIBUTE_HEAD.LOSS must be one of ['bce', 'focal'] but got 'hinge'."),
        ("FOCAL_ALPHA", 1.5, "MODEL.ROI_ATTRIBUTE_HEAD.FOCAL_ALPHA must be in [0, 1] or -1 but got 1.5."),
        ("FOCAL_GAMMA", -1.0, "MODEL.ROI_ATTRIBUTE_HEAD.FOCAL_GAMMA must be >= 0 but got -1.0."),
        ("LOSS_WEIGHT", -0.5, "MODEL.ROI_ATTRIBUTE_HEAD.LOSS_WEIGHT must be >= 0 but got -0.5."),
        ("SCORE_THRESH", 2.0, "MODEL.ROI_ATTRIBUTE_HEAD.SCORE_THRESH must be in [0, 1] but got 2.0."),
        ("BIAS_PRIOR_PROB", 0.0, "MODEL.ROI_ATTRIBUTE_HEAD.BIAS_PRIOR_PROB must be in (0, 1) but got 0.0."),
        ("FC_DIM", 0, "MODEL.ROI_ATTRIBUTE_HEAD.FC_DIM must be a positive integer but got 0."),
        (
            "NUM_ATTRIBUTES",
            0,
            "MODEL.ROI_ATTRIBUTE_HEAD.NUM_ATTRIBUTES must be a positive integer but got 0.",
        ),
    ],
)
def test_invalid_values_raise_errors_naming_the_key(key: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build_attribute_cfg(packaged_config("tiny_cpu.yaml"), [f"MODEL.ROI_ATTRIBUTE_HEAD.{key}", str(value)])


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        build_attribute_cfg(tmp_path / "nope.yaml")
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml.*available: \[.*'tiny_cpu\.yaml'"):
        packaged_config("nope.yaml")


def test_disabled_branch_builds_without_it(make_cfg: Callable[..., CfgNode]) -> None:
    torch.manual_seed(0)
    model = build_model(make_cfg(["MODEL.ROI_ATTRIBUTE_HEAD.ENABLED", False]))
    assert model.roi_heads.attribute_head is None and not model.roi_heads.attribute_on
