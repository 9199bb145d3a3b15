"""Per-class attribute thresholds (MODEL.ROI_ATTRIBUTE_HEAD.CLASS_SCORE_THRESH) change what the model predicts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from detectron2.config import CfgNode
from detectron2.structures import Instances
from torch import nn

from fashion_core.modeling import attribute_inference

C, A = 46, 294


def test_class_thresholds_change_the_predicted_attributes(
    make_model: Callable[..., nn.Module], predict_given_boxes: Callable[[nn.Module], Instances]
) -> None:
    plain = predict_given_boxes(make_model(seed=4))
    # The same weights; class 30 predicts an attribute above 0.0 (so every one), the others above 1.0 (none).
    per_class = [1.0] * C
    per_class[30] = 0.0
    thresholded = predict_given_boxes(make_model(["MODEL.ROI_ATTRIBUTE_HEAD.CLASS_SCORE_THRESH", per_class], seed=4))
    torch.testing.assert_close(plain.attr_scores, thresholded.attr_scores, rtol=0, atol=0)
    torch.testing.assert_close(plain.pred_attributes, plain.attr_scores > 0.5)
    assert not thresholded.pred_attributes[0].any()
    assert thresholded.pred_attributes[1].all()
    assert not torch.equal(plain.pred_attributes, thresholded.pred_attributes)


def test_attribute_inference_picks_each_detections_class_threshold() -> None:
    probs = torch.tensor([[0.2, 0.6, 0.9], [0.2, 0.6, 0.9], [0.2, 0.6, 0.9]])
    inst = Instances((8, 8))
    inst.pred_classes = torch.tensor([0, 1, 2])
    attribute_inference(torch.logit(probs), [inst], 0.5, torch.tensor([0.1, 0.7, 0.95]))
    assert inst.pred_attributes.tolist() == [[True, True, True], [False, False, True], [False, False, False]]
    attribute_inference(torch.logit(probs), [inst], 0.5)
    assert inst.pred_attributes.tolist() == [[False, True, True]] * 3


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (["MODEL.ROI_ATTRIBUTE_HEAD.CLASS_SCORE_THRESH", [0.5] * 3], "CLASS_SCORE_THRESH must be empty or 46 values"),
        (["MODEL.ROI_ATTRIBUTE_HEAD.CLASS_SCORE_THRESH", [1.5] * C], "CLASS_SCORE_THRESH must be empty or 46 values"),
        (["TEST.THRESHOLD_SWEEP.SCORE_GRID", [0.1]], "SCORE_GRID and ATTRIBUTE_GRID must both be empty or both"),
        (["TEST.THRESHOLD_SWEEP.SCORE_GRID", [0.1], "TEST.THRESHOLD_SWEEP.ATTRIBUTE_GRID", [2.0]],
         "ATTRIBUTE_GRID must hold values in"),
    ],
)
def test_bad_threshold_keys_are_named(make_cfg: Callable[..., CfgNode], opts: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_cfg(opts)
