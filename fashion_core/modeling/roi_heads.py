"""``AttributeROIHeads``: detectron2's StandardROIHeads plus the attribute branch, by two narrow overrides."""

from __future__ import annotations

from typing import Any

import torch
from detectron2.config import CfgNode, configurable
from detectron2.layers import ShapeSpec, cat
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes, Instances
from torch import nn

from .attribute_head import AttributeHead
from .config import validate_attribute_config

__all__ = ["AttributeROIHeads"]


@ROI_HEADS_REGISTRY.register()
class AttributeROIHeads(StandardROIHeads):
    """Mask R-CNN ROI heads whose box-head features (D = 1024 in the paper) also feed an attribute branch.

    Training (``_forward_box``): a forward hook on ``box_head`` keeps the (R, D) features that
    StandardROIHeads computes for its sampled proposals, so the branch adds no pooling and no box-head
    pass; the attribute loss uses the foreground rows and the ``gt_attributes`` that
    ``label_and_sample_proposals`` copies from the targets.

    Inference (``forward_with_given_boxes``): after box prediction and NMS, the final boxes (<= 100 per
    image) are pooled again and passed through the box head, as the mask head does, because
    (1) attributes then describe the refined box that is reported, like the masks;
    (2) ``forward_with_given_boxes`` (test-time augmentation, given boxes) gets attributes too;
    (3) reusing the proposal features would need ``fast_rcnn_inference``'s kept indices, which
    ``StandardROIHeads._forward_box`` discards, i.e. a copy of that method. The extra cost is one box-head
    pass on <= DETECTIONS_PER_IMAGE boxes, against the 1000 proposals it already processes.

    Convolutional branch (``NUM_CONV`` > 0): the branch reads its own (R, F, 14, 14) ROI features from
    ``attribute_pooler``, built as the mask head's pooler (``MODEL.ROI_MASK_HEAD.POOLER_*``, ROIAlign on
    the same FPN levels), on the foreground proposals in training and on the final boxes at inference;
    the box-head hook is then not installed.

    Outputs per instance: ``attr_scores`` (N, A) probabilities and ``pred_attributes`` (N, A) bool, columns in
    the contiguous attribute index order (see ``fashion_core.modeling.vocabulary``).
    """

    @configurable
    def __init__(
        self,
        *,
        attribute_head: AttributeHead | None = None,
        attribute_pooler: ROIPooler | None = None,
        **kwargs: Any,
    ) -> None:
        """``attribute_head`` None gives plain StandardROIHeads; ``attribute_pooler`` given: the head's
        convolutional branch reads ROI features pooled by it (in ``box_in_features``) instead of the box
        head's features. Other arguments are StandardROIHeads'."""
        super().__init__(**kwargs)
        self.attribute_on = attribute_head is not None
        self.attribute_head = attribute_head
        self.attribute_pooler = attribute_pooler
        # Box-head output of the current training step, set by the hook and consumed in _forward_box.
        self._box_features: torch.Tensor | None = None
        if attribute_head is not None and attribute_pooler is None:
            self.box_head.register_forward_hook(self._keep_box_features)

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:
        ret: dict[str, Any] = super().from_config(cfg, input_shape)
        if cfg.MODEL.ROI_ATTRIBUTE_HEAD.ENABLED:
            validate_attribute_config(cfg)
            shape: ShapeSpec = ret["box_head"].output_shape
            input_dim = shape.channels * (shape.height or 1) * (shape.width or 1)
            if cfg.MODEL.ROI_ATTRIBUTE_HEAD.NUM_CONV > 0:
                ret["attribute_pooler"], input_dim = _build_attribute_pooler(cfg, input_shape)
            ret["attribute_head"] = AttributeHead(cfg, input_dim)
        return ret

    def _keep_box_features(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        if self.training:
            self._box_features = output

    def _forward_box(
        self, features: dict[str, torch.Tensor], proposals: list[Instances]
    ) -> dict[str, torch.Tensor] | list[Instances]:
        """StandardROIHeads' box branch; in training also the attribute loss on its box features."""
        out = super()._forward_box(features, proposals)
        if not (self.training and self.attribute_head is not None):
            return out
        box_features, self._box_features = self._box_features, None
        assert box_features is not None or self.attribute_pooler is not None, "box_head forward hook did not run"
        out.update(self._attribute_losses(box_features, proposals, features))
        return out

    def _attribute_losses(
        self,
        box_features: torch.Tensor | None,
        proposals: list[Instances],
        features: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Attribute loss on the foreground rows of the sampled proposals of all images.

        FC branch: ``box_features`` (R, D) of those proposals. Conv branch (``attribute_pooler``): the
        foreground proposal boxes are pooled from ``features`` (the ROI heads' input) instead.
        """
        assert self.attribute_head is not None
        gt_classes = cat([p.gt_classes for p in proposals], dim=0)
        # One host sync per batch (as detectron2's mask head): the branch then runs on foreground rows only.
        is_fg = (gt_classes >= 0) & (gt_classes < self.num_classes)
        fg = is_fg.nonzero().squeeze(1)
        like = box_features if box_features is not None else gt_classes.float()  # dtype and device of zeros
        targets = _gather_targets(proposals, self.attribute_head.num_attributes, like)[fg]
        if self.attribute_pooler is None:
            assert box_features is not None, "the FC branch reads the box head's features"
            inputs = box_features[fg]
        else:
            assert features is not None, "the conv branch pools from the ROI heads' input features"
            # Per image, in the order of ``fg`` (image order, then row order).
            boxes = [p.proposal_boxes[m] for p, m in zip(proposals, is_fg.split([len(p) for p in proposals]))]
            inputs = self._pool_attribute_features(features, boxes)
        logits = self.attribute_head(inputs, gt_classes[fg])
        return self.attribute_head.losses(logits, targets)

    def _pool_attribute_features(self, features: dict[str, torch.Tensor], boxes: list[Boxes]) -> torch.Tensor:
        """(R, F, S, S) ROI features of ``boxes`` (per image) for the conv branch, R = total boxes."""
        assert self.attribute_pooler is not None
        return self.attribute_pooler([features[f] for f in self.box_in_features], boxes)

    def forward_with_given_boxes(
        self, features: dict[str, torch.Tensor], instances: list[Instances]
    ) -> list[Instances]:
        """StandardROIHeads' mask (and keypoint) outputs, then ``attr_scores``/``pred_attributes``."""
        instances = super().forward_with_given_boxes(features, instances)
        if self.attribute_head is None:
            return instances
        boxes = [x.pred_boxes for x in instances]
        if self.attribute_pooler is None:
            inputs = self.box_head(self.box_pooler([features[f] for f in self.box_in_features], boxes))
        else:
            inputs = self._pool_attribute_features(features, boxes)
        logits = self.attribute_head(inputs, cat([x.pred_classes for x in instances], dim=0))
        return self.attribute_head.inference(logits, instances)


def _build_attribute_pooler(cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> tuple[ROIPooler, int]:
    """The conv branch's pooler, configured as StandardROIHeads._init_mask_head configures the mask
    head's (ROI_MASK_HEAD.POOLER_*, on ROI_HEADS.IN_FEATURES), and F, the pooled channels."""
    in_features = cfg.MODEL.ROI_HEADS.IN_FEATURES
    channels = {input_shape[f].channels for f in in_features}
    if len(channels) != 1:  # ROIPooler stacks levels into one tensor, as the mask head requires too
        raise ValueError(f"the attribute conv branch needs one channel count on {in_features}, got {channels}")
    pooler = ROIPooler(
        output_size=cfg.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION,
        scales=tuple(1.0 / input_shape[f].stride for f in in_features),
        sampling_ratio=cfg.MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO,
        pooler_type=cfg.MODEL.ROI_MASK_HEAD.POOLER_TYPE,
    )
    return pooler, channels.pop()


def _gather_targets(proposals: list[Instances], num_attributes: int, like: torch.Tensor) -> torch.Tensor:
    """(R, A) targets of the sampled proposals of all images; zeros for images without gt objects, whose
    proposals detectron2 leaves without any gt_* field but gt_classes (all background)."""
    return cat(
        [p.gt_attributes if p.has("gt_attributes") else like.new_zeros((len(p), num_attributes)) for p in proposals],
        dim=0,
    )
