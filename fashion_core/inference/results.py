"""One image's predicted ``Instances`` -> Fashionpedia results entries.

Shape symbols: N = instances of the image, A = attributes (294), H x W = the original image.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from detectron2.structures import Instances

from fashion_core.evaluation.d2_evaluator import instances_to_raw
from fashion_core.modeling import decode_attributes

# Decimals kept of each attribute probability in results.json: 294 full-precision floats per detection
# would make a Kaggle test run's file (3200 images x up to 100 detections) several GB.
PROBABILITY_DECIMALS = 4


def instances_to_results(
    image_id: Any,
    instances: Instances,
    class_ids: np.ndarray,
    attribute_ids: np.ndarray,
    *,
    with_probabilities: bool = True,
) -> list[dict[str, Any]]:
    """Fashionpedia results of one image, in the model's order (by descending score).

    Args:
        instances: on the CPU, with ``pred_classes`` (N,), ``scores`` (N,), ``pred_boxes`` (N, 4) XYXY,
            ``pred_masks`` (N, H, W), ``attr_scores`` (N, A) float and ``pred_attributes`` (N, A) bool.
        class_ids: (C,) raw category id of each class index; attribute_ids: (A,) raw id of each column.

    Each entry: ``image_id``, ``category_id``, ``score``, ``segmentation`` (compressed RLE, str
    counts), ``bbox`` (XYWH), ``attribute_ids`` (the model's ``pred_attributes``: every attribute
    threshold of the config is already applied there, so none is applied again here) and
    ``attribute_scores`` (with ``with_probabilities``: the A probabilities rounded to
    ``PROBABILITY_DECIMALS``, column j = raw id ``attribute_ids[j]``).
    The RLE/box conversion is the training evaluation's (``instances_to_raw``), so both paths agree.
    """
    raw = instances_to_raw(image_id, instances, attribute_ids, class_ids)
    results = raw.to_results(attribute_threshold=None)
    n = len(instances)
    predicted = (
        decode_attributes(instances.pred_attributes, attribute_ids.tolist())
        if instances.has("pred_attributes")
        else [[] for _ in range(n)]
    )
    probs = np.round(raw.attribute_scores.astype(np.float64), PROBABILITY_DECIMALS).tolist()
    for i, (res, ids) in enumerate(zip(results, predicted)):
        res["attribute_ids"] = ids
        if with_probabilities:
            res["attribute_scores"] = probs[i]
    return results
