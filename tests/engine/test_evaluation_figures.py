"""Inference time per image and parameter count, measured during an evaluation's own pass."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import torch
from torch import nn

from fashion_core.engine.evaluation_figures import WARMUP_BATCHES, InferenceTimer, evaluation_figures


class _Slow(nn.Module):
    """Takes ``seconds`` per image of a batch (a list of image dicts, as detectron2 models do)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)  # 3 * 2 weights + 2 biases
        self.seconds = seconds

    def forward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        time.sleep(self.seconds * len(batch))
        return [{} for _ in batch]


def test_timer_counts_images_of_the_timed_batches_only() -> None:
    model = _Slow(0.02)
    batches = [[{}], [{}, {}], [{}]] * 3  # 9 batches: 5 warm-up, then 4 timed (5 images)
    with InferenceTimer(model, len(batches)) as timer:
        for batch in batches:
            model(batch)
    assert timer._calls == 9 and timer._images == 5 == sum(len(b) for b in batches[WARMUP_BATCHES:])
    assert 19.0 <= timer.ms_per_image < 200.0, timer.ms_per_image
    # Outside the block the model is no longer timed.
    model([{}])
    assert timer._calls == 9


def test_one_batch_is_timed_and_no_batch_is_nan() -> None:
    model = _Slow(0.0)
    with InferenceTimer(model, 1) as timer:
        model([{}])
    assert timer._images == 1 and math.isfinite(timer.ms_per_image)
    with InferenceTimer(model, 0) as empty:
        pass
    assert math.isnan(empty.ms_per_image)


def test_figures_are_nested_as_detectron2_results() -> None:
    from detectron2.evaluation.testing import flatten_results_dict

    model = _Slow(0.0)
    with InferenceTimer(model, 1) as timer:
        model([{}])
    flat = flatten_results_dict(evaluation_figures(model, timer))
    assert set(flat) == {"time/inference_ms_per_image", "model/params"}
    assert flat["model/params"] == 8.0 == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("frozen", [False, True])
def test_frozen_parameters_count(frozen: bool) -> None:
    model = _Slow(0.0)
    model.linear.weight.requires_grad_(not frozen)
    with InferenceTimer(model, 0) as timer, torch.no_grad():
        pass
    assert evaluation_figures(model, timer)["model"]["params"] == 8.0
