"""The attribute-aware Mask R-CNN: config extension, attribute branch, ROI heads, mapper, weight loading.

Importing this package registers ``AttributeROIHeads`` in detectron2's ``ROI_HEADS_REGISTRY``. Typical use::

    cfg = build_attribute_cfg(packaged_config("tiny_cpu.yaml"), ["SOLVER.MAX_ITER", "100"])
    model = detectron2.modeling.build_model(cfg)
    load_weights(model, cfg.MODEL.WEIGHTS)  # "" keeps the random init
    loader = detectron2.data.build_detection_train_loader(cfg, mapper=AttributeDatasetMapper(cfg, is_train=True))

Predicted instances carry ``attr_scores`` (N, A) probabilities and ``pred_attributes`` (N, A) bool in the
contiguous attribute order; ``decode_attributes(pred_attributes, load_attribute_ids())`` gives raw id lists.
"""

from . import roi_heads as _  # noqa: F401  (registration only)
from .attribute_head import AttributeHead, attribute_inference, attribute_loss, hard_negative_mask
from .checkpoint import CheckpointReadError, LoadReport, load_weights
from .config import (
    add_attribute_config,
    add_evaluation_config,
    attribute_cfg_from_file,
    build_attribute_cfg,
    finish_attribute_cfg,
    packaged_config,
    validate_attribute_config,
)
from .mapper import AttributeDatasetMapper
from .roi_heads import AttributeROIHeads
from .vocabulary import decode_attributes, encode_attributes, load_attribute_ids

__all__ = [
    "AttributeDatasetMapper",
    "AttributeHead",
    "AttributeROIHeads",
    "CheckpointReadError",
    "LoadReport",
    "add_attribute_config",
    "add_evaluation_config",
    "attribute_cfg_from_file",
    "attribute_inference",
    "attribute_loss",
    "build_attribute_cfg",
    "decode_attributes",
    "encode_attributes",
    "finish_attribute_cfg",
    "hard_negative_mask",
    "load_attribute_ids",
    "load_weights",
    "packaged_config",
    "validate_attribute_config",
]
