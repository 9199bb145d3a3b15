"""The attribute branch: box-head features -> attribute logits, its loss and its inference.

Shape symbols used in every docstring of this module:
    R = ROIs in the batch (all images concatenated), D = box-head feature size (1024 in the paper),
    H = hidden size of the 2-FC branch, C = object classes (46), A = attributes (294),
    F = channels of the pooled ROI features (FPN: 256), S = their side (14), V = CONV_DIM of the conv branch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from detectron2.config import CfgNode, configurable
from detectron2.layers import Conv2d
from detectron2.structures import Instances
from fvcore.nn import weight_init
from torch import nn
from torchvision.ops import sigmoid_focal_loss

__all__ = ["AttributeHead", "attribute_inference", "attribute_loss", "hard_negative_mask"]


def attribute_loss(
    logits: torch.Tensor,
    gt_attributes: torch.Tensor,
    *,
    loss: str = "bce",
    focal_alpha: float = 0.25,
    focal_gamma: float = 2.0,
    ignore_empty: bool = False,
    hard_negatives: int = 0,
) -> torch.Tensor:
    """Mean per-(ROI, attribute) loss over foreground ROIs; a scalar.

    Args:
        logits: (R, A) attribute logits of foreground ROIs (already class-sliced when per-class).
        gt_attributes: (R, A) float multi-hot targets of the objects the ROIs are matched to.
        loss: "bce" (sigmoid cross-entropy) or "focal" (``torchvision.ops.sigmoid_focal_loss``).
        focal_alpha, focal_gamma: focal-loss parameters (ignored for "bce").
        ignore_empty: drop ROIs whose target row is all zeros (objects without attributes).
        hard_negatives: k > 0 keeps, per ROI, its positives and only the k highest-scoring negatives
            (:func:`hard_negative_mask`); 0 keeps every element.

    The sum is divided by (kept ROIs) x A, at least 1, so R = 0 (or no kept ROI) gives an exact 0 that
    is still connected to the graph. No host-device synchronisation. With hard negatives the divisor
    stays (kept ROIs) x A: mining only removes the easy negatives' terms, so every selected element
    weighs what it weighs without mining and LOSS_WEIGHT keeps its meaning (k >= A is the plain loss).
    """
    if loss == "bce":
        elementwise = F.binary_cross_entropy_with_logits(logits, gt_attributes, reduction="none")
    elif loss == "focal":
        elementwise = sigmoid_focal_loss(logits, gt_attributes, focal_alpha, focal_gamma, reduction="none")
    else:
        raise ValueError(f"Unknown attribute loss {loss!r}; valid: ['bce', 'focal'].")
    if hard_negatives > 0:
        elementwise = elementwise * hard_negative_mask(logits, gt_attributes, hard_negatives)
    if ignore_empty:
        keep = gt_attributes.amax(dim=1, keepdim=True) > 0  # (R, 1)
        elementwise = elementwise * keep
        kept_rows = keep.sum()
    else:
        kept_rows = torch.tensor(logits.shape[0], device=logits.device)
    return elementwise.sum() / (kept_rows * logits.shape[1]).clamp(min=1)


def hard_negative_mask(logits: torch.Tensor, gt_attributes: torch.Tensor, k: int) -> torch.Tensor:
    """(R, A) bool: each ROI's positive attributes and its ``k`` highest-scoring absent ones.

    Args:
        logits: (R, A) attribute logits; only their order is read (no gradient flows through the choice).
        gt_attributes: (R, A) multi-hot targets; > 0 marks a positive.
        k: negatives kept per ROI (>= 1); a row with fewer than k negatives keeps them all.

    Ties are broken by ``torch.topk``'s order. One ``topk`` and one ``scatter`` over the batch, no loop.
    """
    positive = gt_attributes > 0
    k = min(k, logits.shape[1])
    if k <= 0:
        return positive
    with torch.no_grad():
        # Positives sort last; when a row has fewer than k negatives topk reaches them, and they are kept anyway.
        scores = logits.detach().masked_fill(positive, float("-inf"))
        hardest = scores.topk(k, dim=1).indices  # (R, k)
        mask = torch.zeros_like(positive).scatter_(1, hardest, True)
    return mask | positive


def attribute_inference(
    logits: torch.Tensor,
    instances: list[Instances],
    score_thresh: float,
    class_score_thresh: torch.Tensor | None = None,
) -> None:
    """Set ``attr_scores`` (N_i, A) float probabilities and ``pred_attributes`` (N_i, A) bool in place.

    Args:
        logits: (R, A) logits of the predicted instances of all images, R = sum_i N_i, in image order.
        instances: per-image predictions (with ``pred_classes`` when ``class_score_thresh`` is given);
            field columns follow the contiguous attribute index.
        score_thresh: an attribute is predicted when its probability is > score_thresh.
        class_score_thresh: optional (C,) per-class thresholds that replace ``score_thresh``: a
            detection of class c predicts an attribute when its probability is > class_score_thresh[c].
    """
    probs = logits.sigmoid()
    for probs_i, inst in zip(probs.split([len(i) for i in instances]), instances):
        inst.attr_scores = probs_i
        if class_score_thresh is None:
            inst.pred_attributes = probs_i > score_thresh
        else:
            limits = class_score_thresh.to(probs_i)[inst.pred_classes]  # (N_i,)
            inst.pred_attributes = probs_i > limits[:, None]


class AttributeHead(nn.Module):
    """FC branch on box-head features, or conv + FC branch on pooled ROI features; shared (A) or
    per-class (C x A) outputs.

    With ``num_conv`` > 0 the input is (R, F, S, S) pooled ROI features: ``num_conv`` 3x3 convolutions
    + ReLU of V channels, built as detectron2's ``MaskRCNNConvUpsampleHead`` builds its own (``c2_msra_fill``),
    then the mean over the S x S cells gives (R, V) for the FC layers. The mean, not a flatten as the box
    head does at 7x7: flattening 14 x 14 x 256 would make the first FC layer 50,176 wide (51M weights at
    H = 1024, 680M for a per-class 1-FC head), where V-wide keeps it the size of the box-head branch's.

    The per-class output layer is one (C*A, H) linear layer. In ``forward`` only the rows of the classes
    present are multiplied and each ROI's A-slice is taken with ``gather``: no loop over ROIs or classes,
    and no (R, A, H) gathered-weight tensor (308 MB for 256 ROIs at H = 1024).
    """

    @configurable
    def __init__(
        self,
        *,
        input_dim: int,
        num_attributes: int,
        num_classes: int,
        num_fc: int = 2,
        fc_dim: int = 1024,
        per_class: bool = False,
        loss: str = "bce",
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        loss_weight: float = 1.0,
        ignore_empty: bool = False,
        bias_prior_prob: float = 0.01,
        score_thresh: float = 0.5,
        class_score_thresh: tuple[float, ...] = (),
        num_conv: int = 0,
        conv_dim: int = 256,
        hard_negatives: int = 0,
    ) -> None:
        """``input_dim``: D (flattened box-head features) when ``num_conv`` = 0, else F (pooled channels)."""
        super().__init__()
        if num_fc not in (1, 2):
            raise ValueError(f"num_fc must be 1 or 2 but got {num_fc}.")
        if num_conv < 0 or hard_negatives < 0:
            raise ValueError(f"num_conv and hard_negatives must be >= 0 but got {num_conv}, {hard_negatives}.")
        self.num_attributes = num_attributes
        self.num_classes = num_classes
        self.per_class = per_class
        self.loss = loss
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.ignore_empty = ignore_empty
        self.loss_weight = loss_weight
        self.score_thresh = score_thresh
        if class_score_thresh and len(class_score_thresh) != num_classes:
            raise ValueError(
                f"class_score_thresh must hold {num_classes} values (one per class) but got {len(class_score_thresh)}."
            )
        # (C,) per-class attribute thresholds, or None for score_thresh everywhere. A buffer outside the
        # state dict: thresholds belong to the config (a bundle's config.yaml), not to the weights.
        self.class_score_thresh: torch.Tensor | None
        self.register_buffer(
            "class_score_thresh",
            torch.tensor(class_score_thresh, dtype=torch.float32) if class_score_thresh else None,
            persistent=False,
        )
        self.num_conv = num_conv
        self.hard_negatives = hard_negatives

        convs: list[nn.Module] = []
        for _ in range(num_conv):  # as MaskRCNNConvUpsampleHead (without its optional norm)
            conv = Conv2d(input_dim, conv_dim, kernel_size=3, stride=1, padding=1, activation=nn.ReLU())
            weight_init.c2_msra_fill(conv)
            convs.append(conv)
            input_dim = conv_dim
        self.convs = nn.Sequential(*convs)

        layers: list[nn.Module] = []
        if num_fc == 2:
            hidden = nn.Linear(input_dim, fc_dim)
            weight_init.c2_xavier_fill(hidden)
            layers += [hidden, nn.ReLU(inplace=True)]
            input_dim = fc_dim
        self.hidden = nn.Sequential(*layers)
        self.predictor = nn.Linear(input_dim, num_attributes * (num_classes if per_class else 1))
        nn.init.normal_(self.predictor.weight, std=0.01)
        nn.init.constant_(self.predictor.bias, -math.log((1 - bias_prior_prob) / bias_prior_prob))

    @classmethod
    def from_config(cls, cfg: CfgNode, input_dim: int) -> dict[str, object]:
        c = cfg.MODEL.ROI_ATTRIBUTE_HEAD
        return {
            "input_dim": input_dim,
            "num_attributes": c.NUM_ATTRIBUTES,
            "num_classes": cfg.MODEL.ROI_HEADS.NUM_CLASSES,
            "num_fc": c.NUM_FC,
            "fc_dim": c.FC_DIM,
            "per_class": c.PER_CLASS,
            "loss": c.LOSS,
            "focal_alpha": c.FOCAL_ALPHA,
            "focal_gamma": c.FOCAL_GAMMA,
            "loss_weight": c.LOSS_WEIGHT,
            "ignore_empty": c.IGNORE_EMPTY,
            "bias_prior_prob": c.BIAS_PRIOR_PROB,
            "score_thresh": c.SCORE_THRESH,
            "class_score_thresh": tuple(float(t) for t in c.CLASS_SCORE_THRESH),
            "num_conv": c.NUM_CONV,
            "conv_dim": c.CONV_DIM,
            "hard_negatives": c.HARD_NEGATIVES,
        }

    def forward(self, features: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """(R, D) features (or (R, ...) flattened to D), (R,) int64 classes in [0, C) -> (R, A) logits.

        With convolutions, ``features`` are (R, F, S, S) pooled ROI features.
        ``classes`` selects each ROI's slice of a per-class head and is ignored by a shared one.
        """
        if self.num_conv > 0:
            features = self.convs(features).mean(dim=(2, 3))  # (R, V, S, S) -> (R, V)
        hidden = self.hidden(features.flatten(1))
        if not self.per_class:
            return self.predictor(hidden)
        if classes is None:
            raise ValueError("a per-class attribute head needs the class of every ROI.")
        # Only the K classes present in the batch (K << C) are multiplied: (R, K*A) instead of (R, C*A)
        # logits; torch.unique costs one host sync per batch on GPU. The gather picks each ROI's slice.
        present, slot = torch.unique(classes, return_inverse=True)  # (K,), (R,)
        weight = self.predictor.weight.view(self.num_classes, self.num_attributes, -1)
        bias = self.predictor.bias.view(self.num_classes, self.num_attributes)
        out = F.linear(hidden, weight[present].flatten(0, 1), bias[present].flatten())
        out = out.view(hidden.shape[0], present.numel(), self.num_attributes)  # (R, K, A)
        index = slot.view(-1, 1, 1).expand(-1, 1, self.num_attributes)  # (R, 1, A)
        return out.gather(1, index).squeeze(1)

    def losses(self, logits: torch.Tensor, gt_attributes: torch.Tensor) -> dict[str, torch.Tensor]:
        """(R, A) logits and targets of foreground ROIs -> ``{"loss_attribute": weighted scalar}``."""
        loss = attribute_loss(
            logits,
            gt_attributes,
            loss=self.loss,
            focal_alpha=self.focal_alpha,
            focal_gamma=self.focal_gamma,
            ignore_empty=self.ignore_empty,
            hard_negatives=self.hard_negatives,
        )
        return {"loss_attribute": loss * self.loss_weight}

    def inference(self, logits: torch.Tensor, instances: list[Instances]) -> list[Instances]:
        """Fill ``attr_scores``/``pred_attributes`` of ``instances`` from (R, A) logits; returns them."""
        attribute_inference(logits, instances, self.score_thresh, self.class_score_thresh)
        return instances
