"""The convolutional attribute branch: head shapes and init, its own 14x14 pooler in the tiny model (training on
foreground proposals, inference on final boxes), empty images, config validation, seeded regression."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import torch
from detectron2.config import CfgNode
from detectron2.layers import Conv2d
from detectron2.structures import Boxes, Instances
from torch import nn

from fashion_core.modeling import AttributeHead, AttributeROIHeads, attribute_loss, build_attribute_cfg, packaged_config
from fashion_core.modeling.synthetic import synthetic_batch

from .helpers import predict, train_losses

R, F_IN, S, C, A = 5, 8, 14, 5, 7
A_FULL = 294  # attributes of the tiny model
CONV = ["MODEL.ROI_ATTRIBUTE_HEAD.NUM_CONV", 2, "MODEL.ROI_ATTRIBUTE_HEAD.CONV_DIM", 16]
KEEP_ALL = ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0]


def _head(num_conv: int, per_class: bool, num_fc: int = 2) -> AttributeHead:
    return AttributeHead(input_dim=F_IN, num_attributes=A, num_classes=C, num_fc=num_fc, fc_dim=12,
                         per_class=per_class, num_conv=num_conv, conv_dim=6)


@pytest.mark.parametrize("num_conv", [1, 3])
@pytest.mark.parametrize("per_class", [False, True])
@pytest.mark.parametrize("num_fc", [1, 2])
def test_conv_head_shapes_and_layers(num_conv: int, per_class: bool, num_fc: int) -> None:
    head = _head(num_conv, per_class, num_fc)
    assert head(torch.randn(R, F_IN, S, S), torch.randint(0, C, (R,))).shape == (R, A)
    assert head(torch.randn(0, F_IN, S, S), torch.zeros(0, dtype=torch.int64)).shape == (0, A)
    # As MaskRCNNConvUpsampleHead: 3x3 convs keeping the 14x14 size, ReLU, MSRA fill with zero bias.
    assert len(head.convs) == num_conv
    for i, conv in enumerate(head.convs):
        assert isinstance(conv, Conv2d) and isinstance(conv.activation, nn.ReLU)
        assert conv.in_channels == (F_IN if i == 0 else 6) and conv.out_channels == 6
        assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.stride == (1, 1)
        assert not conv.bias.any()
    # The FC layers read the V = 6 channel means.
    first_fc = head.hidden[0] if num_fc == 2 else head.predictor
    assert first_fc.in_features == 6


def test_conv_head_is_convs_then_cell_mean_then_the_fc_branch() -> None:
    torch.manual_seed(0)
    head = _head(2, True)
    x, classes = torch.randn(R, F_IN, S, S), torch.randint(0, C, (R,))
    h = x
    for conv in head.convs:
        h = torch.relu(nn.functional.conv2d(h, conv.weight, conv.bias, padding=1))
    full = head.predictor(head.hidden(h.mean(dim=(2, 3)))).view(R, C, A)
    torch.testing.assert_close(head(x, classes), full[torch.arange(R), classes])  # per-class slicing


def test_fc_branch_is_unchanged_by_the_new_keys() -> None:
    # NUM_CONV = 0 builds no conv and draws nothing more from the generator: the FC head's init is as before.
    torch.manual_seed(0)
    a = AttributeHead(input_dim=F_IN, num_attributes=A, num_classes=C)
    torch.manual_seed(0)
    b = AttributeHead(input_dim=F_IN, num_attributes=A, num_classes=C, num_conv=0, hard_negatives=0)
    assert len(a.convs) == 0 and set(a.state_dict()) == set(b.state_dict())
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


@pytest.mark.parametrize("per_class", [False, True])
def test_tiny_model_with_conv_branch_trains_on_its_own_pooled_features(
    make_model: Callable[..., nn.Module], per_class: bool
) -> None:
    model = make_model([*CONV, "MODEL.ROI_ATTRIBUTE_HEAD.PER_CLASS", per_class])
    heads: AttributeROIHeads = model.roi_heads
    assert heads.attribute_pooler is not None
    assert heads.attribute_pooler.output_size == (14, 14)  # ROI_MASK_HEAD.POOLER_RESOLUTION
    assert not heads.box_head._forward_hooks  # the box head's features are not read
    losses = train_losses(model, synthetic_batch(2, seed=1))
    assert torch.isfinite(losses["loss_attribute"]) and losses["loss_attribute"] > 0
    losses["loss_attribute"].backward()
    # The attribute loss reaches the convs and the backbone, and not the box head.
    assert heads.attribute_head.convs[0].weight.grad.abs().sum() > 0
    assert model.backbone.fpn_output2.weight.grad.abs().sum() > 0
    assert heads.box_head.fc1.weight.grad is None


def test_training_pools_the_foreground_proposals_of_each_image(make_model: Callable[..., nn.Module]) -> None:
    model = make_model([*CONV, "MODEL.ROI_ATTRIBUTE_HEAD.PER_CLASS", True])
    heads: AttributeROIHeads = model.roi_heads
    heads.train()
    torch.manual_seed(0)
    features = {f: torch.randn(2, 64, 128 // s, 128 // s) for f, s in zip(("p2", "p3", "p4", "p5"), (4, 8, 16, 32))}
    with_gt = Instances((128, 128))
    with_gt.proposal_boxes = Boxes(torch.tensor([[0.0, 0, 60, 60], [10, 10, 40, 90], [5, 50, 120, 100]]))
    with_gt.gt_classes = torch.tensor([7, 46, 3])  # 46 = background
    with_gt.gt_attributes = (torch.rand(3, A_FULL) < 0.05).float()
    without_gt = Instances((128, 128))  # detectron2 copies no gt_* but classes
    without_gt.proposal_boxes = Boxes(torch.tensor([[1.0, 1, 50, 50], [3, 3, 9, 9]]))
    without_gt.gt_classes = torch.tensor([46, 46])
    other = Instances((128, 128))
    other.proposal_boxes = Boxes(torch.tensor([[20.0, 30, 100, 110]]))
    other.gt_classes = torch.tensor([12])
    other.gt_attributes = (torch.rand(1, A_FULL) < 0.05).float()
    # Three images: features of a batch of 3 (the second has no foreground).
    features = {f: torch.cat([v, v[:1]]) for f, v in features.items()}
    loss = heads._attribute_losses(None, [with_gt, without_gt, other], features)["loss_attribute"]
    fg_boxes = [Boxes(with_gt.proposal_boxes.tensor[[0, 2]]), Boxes(torch.zeros(0, 4)), other.proposal_boxes]
    pooled = heads.attribute_pooler([features[f] for f in heads.box_in_features], fg_boxes)
    assert pooled.shape == (3, 64, 14, 14)
    classes = torch.tensor([7, 3, 12])
    targets = torch.cat([with_gt.gt_attributes[[0, 2]], other.gt_attributes])
    torch.testing.assert_close(loss, attribute_loss(heads.attribute_head(pooled, classes), targets))


def test_inference_pools_the_final_boxes(make_model: Callable[..., nn.Module]) -> None:
    model = make_model([*CONV, "MODEL.ROI_ATTRIBUTE_HEAD.PER_CLASS", True, *KEEP_ALL])
    batch = synthetic_batch(1, seed=2)
    (instances,) = predict(model, batch)
    assert len(instances) > 0 and instances.attr_scores.shape == (len(instances), A_FULL)
    heads: AttributeROIHeads = model.roi_heads
    with torch.no_grad():
        features = model.backbone(model.preprocess_image(batch).tensor)
        pooled = heads.attribute_pooler([features[f] for f in heads.box_in_features], [instances.pred_boxes])
        logits = heads.attribute_head(pooled, instances.pred_classes)
    torch.testing.assert_close(instances.attr_scores, logits.sigmoid())


def test_images_without_instances_train_and_infer(make_model: Callable[..., nn.Module]) -> None:
    model = make_model(CONV)
    empty = [synthetic_batch(2, seed=3)[0], synthetic_batch(2, seed=4)[0]]
    assert all(len(d["instances"]) == 0 for d in empty)
    losses = train_losses(model, empty)
    assert losses["loss_attribute"].item() == 0.0
    sum(losses.values()).backward()
    model = make_model([*CONV, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 1.0])  # no detection survives
    for inst in predict(model, synthetic_batch(2, seed=1)):
        assert len(inst) == 0 and inst.attr_scores.shape == (0, A_FULL)


# The whole tiny model with the conv branch and hard negatives, under torch.manual_seed(0) on CPU (2 threads).
# The other losses equal test_attribute_roi_heads.py's: the branch is built last and leaves their init alone.
RECORDED_LOSSES = {
    "loss_cls": 3.9110798835754395,
    "loss_box_reg": 0.000719949952326715,
    "loss_attribute": 0.014661773107945919,
    "loss_mask": 0.6911546587944031,
    "loss_rpn_cls": 0.686150848865509,
    "loss_rpn_loc": 0.0033606982324272394,
}


def test_seeded_loss_regression(make_model: Callable[..., nn.Module]) -> None:
    mining = ["MODEL.ROI_ATTRIBUTE_HEAD.HARD_NEGATIVES", 8]
    model = make_model([*CONV, "MODEL.ROI_ATTRIBUTE_HEAD.PER_CLASS", True, *mining])
    losses = {k: v.item() for k, v in train_losses(model, synthetic_batch(2, seed=1)).items()}
    assert losses == pytest.approx(RECORDED_LOSSES, rel=1e-4)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("NUM_CONV", -1, "MODEL.ROI_ATTRIBUTE_HEAD.NUM_CONV must be an integer >= 0 but got -1."),
        ("CONV_DIM", 0, "MODEL.ROI_ATTRIBUTE_HEAD.CONV_DIM must be a positive integer but got 0."),
        ("HARD_NEGATIVES", -3, "MODEL.ROI_ATTRIBUTE_HEAD.HARD_NEGATIVES must be an integer >= 0 (0 = off) but got -3."),
    ],
)
def test_invalid_new_keys_are_named(key: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build_attribute_cfg(packaged_config("tiny_cpu.yaml"), [f"MODEL.ROI_ATTRIBUTE_HEAD.{key}", str(value)])


def test_new_keys_default_to_the_fc_branch_without_mining(make_cfg: Callable[..., CfgNode]) -> None:
    head = make_cfg().MODEL.ROI_ATTRIBUTE_HEAD
    assert (head.NUM_CONV, head.HARD_NEGATIVES) == (0, 0)
