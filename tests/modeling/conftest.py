"""Tiny CPU model builders shared by the modeling tests (the packaged tiny_cpu.yaml, random init)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch
from detectron2.config import CfgNode
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from torch import nn

from fashion_core.modeling import build_attribute_cfg, packaged_config
from fashion_core.modeling.synthetic import synthetic_batch


def _tiny_cfg(opts: Sequence[object] = ()) -> CfgNode:
    return build_attribute_cfg(packaged_config("tiny_cpu.yaml"), [str(o) for o in opts])


def _tiny_model(opts: Sequence[object] = (), seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(_tiny_cfg(opts))


@pytest.fixture(autouse=True)
def _two_threads() -> None:
    # Float results and timings as on the 2-core CI machine, whatever this machine has.
    torch.set_num_threads(2)


@pytest.fixture
def make_cfg() -> Callable[..., CfgNode]:
    """``make_cfg(opts)``: tiny_cpu.yaml + opts (flat KEY, VALUE list), validated and frozen."""
    return _tiny_cfg


@pytest.fixture
def make_model() -> Callable[..., nn.Module]:
    """``make_model(opts, seed=0)``: the tiny model built under ``torch.manual_seed(seed)``."""
    return _tiny_model


def _predict_given_boxes(model: nn.Module) -> Instances:
    """The model's outputs for two given boxes of classes 1 and 30 on one synthetic 128-px image."""
    model.eval()
    batch = synthetic_batch(1, seed=2)
    given = Instances((128, 128))
    given.pred_boxes = Boxes(torch.tensor([[10.0, 10.0, 60.0, 80.0], [0.0, 0.0, 127.0, 127.0]]))
    given.pred_classes = torch.tensor([1, 30])
    with torch.no_grad():
        features = model.backbone(model.preprocess_image(batch).tensor)
        (out,) = model.roi_heads.forward_with_given_boxes(features, [given])
    return out


@pytest.fixture
def predict_given_boxes() -> Callable[[nn.Module], Instances]:
    """``predict_given_boxes(model)``: its outputs for boxes of classes 1 and 30 on one synthetic image."""
    return _predict_given_boxes
