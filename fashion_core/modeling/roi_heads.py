"""``AttributeROIHeads``: detectron2's StandardROIHeads plus the attribute branch, by two narrow overrides."""

from __future__ import annotations

from typing import Any

import torch
from detectron2.config import CfgNode, configurable
from detectron2.layers import ShapeSpec, cat
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.structures import Instances
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

    Outputs per instance: ``attr_scores`` (N, A) probabilities and ``pred_attributes`` (N, A) bool, columns in
    the contiguous attribute index order (see ``fashion_core.modeling.vocabulary``).
    """

    @configurable
    def __init__(self, *, attribute_head: AttributeHead | None = None, **kwargs: Any) -> None:
        """``attribute_head`` None gives plain StandardROIHeads; other arguments are StandardROIHeads'."""
        super().__init__(**kwargs)
        self.attribute_on = attribute_head is not None
        self.attribute_head = attribute_head
        # Box-head output of the current training step, set by the hook and consumed in _forward_box.
        self._box_features: torch.Tensor | None = None
        if attribute_head is not None:
            self.box_head.register_forward_hook(self._keep_box_features)

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:
        ret: dict[str, Any] = super().from_config(cfg, input_shape)
        if cfg.MODEL.ROI_ATTRIBUTE_HEAD.ENABLED:
            validate_attribute_config(cfg)
            shape: ShapeSpec = ret["box_head"].output_shape
            input_dim = shape.channels * (shape.height or 1) * (shape.width or 1)
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
        assert box_features is not None, "box_head forward hook did not run"
        out.update(self._attribute_losses(box_features, proposals))
        return out

    def _attribute_losses(self, box_features: torch.Tensor, proposals: list[Instances]) -> dict[str, torch.Tensor]:
        """(R, D) features of the sampled proposals of all images -> attribute loss on foreground rows."""
        assert self.attribute_head is not None
        gt_classes = cat([p.gt_classes for p in proposals], dim=0)
        # One host sync per batch (as detectron2's mask head): the branch then runs on foreground rows only.
        fg = ((gt_classes >= 0) & (gt_classes < self.num_classes)).nonzero().squeeze(1)
        targets = _gather_targets(proposals, self.attribute_head.num_attributes, box_features)[fg]
        logits = self.attribute_head(box_features[fg], gt_classes[fg])
        return self.attribute_head.losses(logits, targets)

    def forward_with_given_boxes(
        self, features: dict[str, torch.Tensor], instances: list[Instances]
    ) -> list[Instances]:
        """StandardROIHeads' mask (and keypoint) outputs, then ``attr_scores``/``pred_attributes``."""
        instances = super().forward_with_given_boxes(features, instances)
        if self.attribute_head is None:
            return instances
        pooled = self.box_pooler([features[f] for f in self.box_in_features], [x.pred_boxes for x in instances])
        logits = self.attribute_head(self.box_head(pooled), cat([x.pred_classes for x in instances], dim=0))
        return self.attribute_head.inference(logits, instances)


def _gather_targets(proposals: list[Instances], num_attributes: int, like: torch.Tensor) -> torch.Tensor:
    """(R, A) targets of the sampled proposals of all images; zeros for images without gt objects, whose
    proposals detectron2 leaves without any gt_* field but gt_classes (all background)."""
    return cat(
        [p.gt_attributes if p.has("gt_attributes") else like.new_zeros((len(p), num_attributes)) for p in proposals],
        dim=0,
    )
