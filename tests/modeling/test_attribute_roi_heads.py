"""AttributeROIHeads in the tiny CPU model: variants, empty images, wiring, seeded regression, overfit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from torch import nn

from fashion_core.modeling import AttributeROIHeads, attribute_loss
from fashion_core.modeling.synthetic import synthetic_batch

from .helpers import predict, train_losses

A = 294
# Random-init class scores are ~1/47, under the default 0.05: keep every detection to have some.
KEEP_ALL = ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0]
VARIANTS = [(1, False), (2, False), (1, True), (2, True)]


def _variant(num_fc: int, per_class: bool) -> list[object]:
    return ["MODEL.ROI_ATTRIBUTE_HEAD.NUM_FC", num_fc, "MODEL.ROI_ATTRIBUTE_HEAD.PER_CLASS", per_class]


@pytest.mark.parametrize(("num_fc", "per_class"), VARIANTS)
def test_four_variants_train_and_infer(make_model: Callable[..., nn.Module], num_fc: int, per_class: bool) -> None:
    model = make_model(_variant(num_fc, per_class) + KEEP_ALL)
    losses = train_losses(model, synthetic_batch(2, seed=1))
    assert torch.isfinite(losses["loss_attribute"]) and losses["loss_attribute"] > 0
    sum(losses.values()).backward()
    assert model.roi_heads.attribute_head.predictor.weight.grad.abs().sum() > 0
    # The attribute loss reaches the box head: the branch reads its features.
    assert model.roi_heads.box_head.fc1.weight.grad is not None

    (instances,) = predict(model, synthetic_batch(1, seed=2))
    n = len(instances)
    assert n > 0
    assert instances.attr_scores.shape == (n, A) and instances.attr_scores.dtype == torch.float32
    assert ((instances.attr_scores >= 0) & (instances.attr_scores <= 1)).all()
    assert instances.pred_attributes.shape == (n, A) and instances.pred_attributes.dtype == torch.bool
    assert torch.equal(instances.pred_attributes, instances.attr_scores > 0.5)


@pytest.mark.parametrize("per_class", [False, True])
def test_inference_reads_the_final_boxes_and_the_predicted_class(
    make_model: Callable[..., nn.Module], per_class: bool
) -> None:
    model = make_model(_variant(2, per_class) + KEEP_ALL)
    batch = synthetic_batch(1, seed=2)
    (instances,) = predict(model, batch)
    heads: AttributeROIHeads = model.roi_heads
    with torch.no_grad():
        images = model.preprocess_image(batch)
        features = model.backbone(images.tensor)
        # Predictions are rescaled to the input size; the tiny model keeps 128 px, so boxes coincide.
        pooled = heads.box_pooler([features[f] for f in heads.box_in_features], [instances.pred_boxes])
        logits = heads.attribute_head(heads.box_head(pooled), instances.pred_classes)
    torch.testing.assert_close(instances.attr_scores, logits.sigmoid())


def test_training_loss_uses_foreground_rois_with_their_gt_class(make_model: Callable[..., nn.Module]) -> None:
    model = make_model(_variant(2, True))
    heads: AttributeROIHeads = model.roi_heads
    heads.train()
    torch.manual_seed(0)
    features = torch.randn(5, 256)
    with_gt = Instances((64, 64))
    with_gt.proposal_boxes = Boxes(torch.zeros(3, 4))
    with_gt.gt_classes = torch.tensor([7, 46, 3])  # 46 = background
    with_gt.gt_attributes = (torch.rand(3, A) < 0.05).float()
    without_gt = Instances((64, 64))  # an image without objects: detectron2 copies no gt_* but classes
    without_gt.proposal_boxes = Boxes(torch.zeros(2, 4))
    without_gt.gt_classes = torch.tensor([46, 46])
    loss = heads._attribute_losses(features, [with_gt, without_gt])["loss_attribute"]
    fg = torch.tensor([0, 2])
    expected = attribute_loss(heads.attribute_head(features[fg], with_gt.gt_classes[fg]), with_gt.gt_attributes[fg])
    torch.testing.assert_close(loss, expected)


def test_images_without_instances_train_and_infer(make_model: Callable[..., nn.Module]) -> None:
    model = make_model(["MODEL.ROI_ATTRIBUTE_HEAD.PER_CLASS", True])
    empty = [synthetic_batch(2, seed=3)[0], synthetic_batch(2, seed=4)[0]]
    assert all(len(d["instances"]) == 0 for d in empty)
    losses = train_losses(model, empty)
    assert losses["loss_attribute"].item() == 0.0
    sum(losses.values()).backward()  # the zero loss is still part of the graph

    model = make_model(["MODEL.ROI_HEADS.SCORE_THRESH_TEST", 1.0])  # no detection survives
    instances = predict(model, synthetic_batch(2, seed=1))
    for inst in instances:
        assert len(inst) == 0
        assert inst.attr_scores.shape == (0, A) and inst.pred_attributes.shape == (0, A)


def test_forward_with_given_boxes_adds_attributes(
    make_model: Callable[..., nn.Module], predict_given_boxes: Callable[[nn.Module], Instances]
) -> None:
    out = predict_given_boxes(make_model())
    assert out.attr_scores.shape == (2, A) and out.pred_masks.shape[0] == 2


def test_branch_leaves_the_rest_of_the_model_unchanged(make_model: Callable[..., nn.Module]) -> None:
    with_branch = make_model(seed=5)
    without = make_model(["MODEL.ROI_ATTRIBUTE_HEAD.ENABLED", False], seed=5)
    standard = make_model(["MODEL.ROI_ATTRIBUTE_HEAD.ENABLED", False, "MODEL.ROI_HEADS.NAME", "StandardROIHeads"], 5)
    ours, base = with_branch.state_dict(), without.state_dict()
    assert set(ours) - set(base) == {k for k in ours if k.startswith("roi_heads.attribute_head.")} != set()
    assert set(base) == set(standard.state_dict())
    assert all(torch.equal(base[k], ours[k]) for k in base)  # same init of every shared module

    batch = synthetic_batch(2, seed=1)
    losses, base_losses = train_losses(with_branch, batch), train_losses(without, batch)
    assert set(losses) - set(base_losses) == {"loss_attribute"}
    for k, v in base_losses.items():
        torch.testing.assert_close(losses[k], v)
    torch.testing.assert_close(train_losses(standard, batch), base_losses)
    (inst,) = predict(without, synthetic_batch(1, seed=2))
    assert not inst.has("attr_scores")


# Pins the behaviour of the whole tiny model in training: init under torch.manual_seed(0), proposal
# sampling, foreground selection, gt matching and every loss including the attribute branch. Recorded from
# this implementation on CPU (2 threads); a change means behaviour changed and must be deliberate.
RECORDED_LOSSES = {
    "loss_cls": 3.9110798835754395,
    "loss_box_reg": 0.0007199497194960713,
    "loss_attribute": 0.003469740506261587,
    "loss_mask": 0.6911546587944031,
    "loss_rpn_cls": 0.686150848865509,
    "loss_rpn_loc": 0.0033606982324272394,
}


def test_seeded_loss_regression(make_model: Callable[..., nn.Module]) -> None:
    model = make_model([*_variant(2, True), "MODEL.ROI_ATTRIBUTE_HEAD.LOSS", "focal"])
    losses = {k: v.item() for k, v in train_losses(model, synthetic_batch(2, seed=1)).items()}
    assert losses == pytest.approx(RECORDED_LOSSES, rel=1e-4)


@pytest.mark.slow  # 40 training steps: 1-2 minutes on 2 busy cores
def test_overfit_on_a_few_images_lowers_the_attribute_loss(make_model: Callable[..., nn.Module]) -> None:
    # The loss is a mean over (ROI, attribute) elements, so one positive moves it little: weight 10.
    weight = 10.0
    model = make_model(["MODEL.ROI_ATTRIBUTE_HEAD.LOSS_WEIGHT", weight])
    batches = [synthetic_batch(2, seed=1), synthetic_batch(2, seed=3)]

    def attribute_loss_on_the_batches() -> float:
        # Same proposal sampling (seed) before and after training.
        return sum(train_losses(model, batch, seed=0)["loss_attribute"].item() for batch in batches) / weight

    before = attribute_loss_on_the_batches()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    with EventStorage(0):
        for step in range(40):
            losses = model(batches[step % 2])
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()
    after = attribute_loss_on_the_batches()
    assert after < 0.6 * before, (before, after)  # ~0.3 x here
