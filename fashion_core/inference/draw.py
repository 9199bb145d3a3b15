"""Pictures of predictions and ground truth with class *and attribute* names, drawn by detectron2's Visualizer.

detectron2's ``draw_instance_predictions`` labels a mask with its class and score only; the one thing
added here is the label text (class, score, the first attribute names), passed to the Visualizer's own
``overlay_instances``. Colors are fixed per class, so the same class looks the same in every picture.

Shape symbols: N = instances, H x W = the image, A = attributes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from detectron2.structures import BoxMode, Instances
from detectron2.utils.colormap import colormap
from detectron2.utils.visualizer import Visualizer

from fashion_core.data import Taxonomy
from fashion_core.modeling import decode_attributes

# Attribute names shown per instance before "+k more" (a label must stay readable on the image).
MAX_ATTRIBUTE_NAMES = 3
# Pictures are drawn with their longer side scaled into this range (small images get legible text,
# large ones do not make multi-MB PNGs).
MIN_SIDE, MAX_SIDE = 512, 1280

_COLORS = colormap(rgb=True, maximum=1)


def instance_label(
    taxonomy: Taxonomy, class_index: int, attribute_ids: Sequence[int], score: float | None = None
) -> str:
    """``"dress 87%"`` + newline + ``"midi, a-line, +2"``: class name, score, attribute names."""
    head = taxonomy.class_names[class_index]
    if score is not None:
        head += f" {score:.0%}"
    names = [taxonomy.attribute_names[taxonomy.attribute_lut[i]] for i in attribute_ids]
    if not names:
        return head
    shown = ", ".join(names[:MAX_ATTRIBUTE_NAMES])
    more = len(names) - MAX_ATTRIBUTE_NAMES
    return f"{head}\n{shown}{f', +{more}' if more > 0 else ''}"


def _scale(height: int, width: int) -> float:
    side = max(height, width)
    return MIN_SIDE / side if side < MIN_SIDE else min(1.0, MAX_SIDE / side)


def draw_instances(
    image_rgb: np.ndarray,
    class_indices: Sequence[int],
    masks: Any,
    labels: Sequence[str],
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """(H', W', 3) uint8 RGB picture: masks (N bool (H, W) arrays or COCO RLE/polygons), boxes (N, 4) XYXY."""
    vis = Visualizer(image_rgb, metadata=None, scale=_scale(*image_rgb.shape[:2]))
    if len(class_indices):
        colors = [_COLORS[int(c) % len(_COLORS)] for c in class_indices]
        vis.overlay_instances(masks=masks, boxes=boxes, labels=list(labels), assigned_colors=colors, alpha=0.45)
    return vis.get_output().get_image()


def draw_predictions(image_rgb: np.ndarray, instances: Instances, taxonomy: Taxonomy) -> np.ndarray:
    """A picture of one image's predicted ``Instances`` (on the CPU, at the image's size)."""
    classes = instances.pred_classes.tolist()
    scores = instances.scores.tolist()
    attrs = (
        decode_attributes(instances.pred_attributes, taxonomy.attribute_ids)
        if instances.has("pred_attributes")
        else [[] for _ in classes]
    )
    labels = [instance_label(taxonomy, c, a, s) for c, a, s in zip(classes, attrs, scores)]
    masks = list(instances.pred_masks.numpy()) if instances.has("pred_masks") else None
    boxes = instances.pred_boxes.tensor.numpy() if instances.has("pred_boxes") else None
    return draw_instances(image_rgb, classes, masks, labels, boxes)


def draw_ground_truth(
    image_rgb: np.ndarray, annotations: Sequence[Mapping[str, Any]], taxonomy: Taxonomy
) -> np.ndarray:
    """A picture of detectron2 dataset-dict annotations (contiguous ``category_id``, raw ``attribute_ids``)."""
    classes = [int(a["category_id"]) for a in annotations]
    labels = [instance_label(taxonomy, c, a.get("attribute_ids", [])) for c, a in zip(classes, annotations)]
    masks = [a["segmentation"] for a in annotations] if annotations and "segmentation" in annotations[0] else None
    boxes = (
        np.array([BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS) for a in annotations])
        if annotations
        else None
    )
    return draw_instances(image_rgb, classes, masks, labels, boxes)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 8) -> np.ndarray:
    """Two (H, W, 3) uint8 pictures next to each other on a white canvas of the taller height."""
    h = max(left.shape[0], right.shape[0])
    out = np.full((h, left.shape[1] + gap + right.shape[1], 3), 255, dtype=np.uint8)
    out[: left.shape[0], : left.shape[1]] = left
    out[: right.shape[0], left.shape[1] + gap :] = right
    return out
