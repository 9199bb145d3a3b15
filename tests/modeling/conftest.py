"""Tiny CPU model builders shared by the modeling tests (the packaged tiny_cpu.yaml, random init)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch
from detectron2.config import CfgNode
from detectron2.modeling import build_model
from torch import nn

from fashion_core.modeling import build_attribute_cfg, packaged_config


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
