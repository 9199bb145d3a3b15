"""The flat keys a detectron2 evaluation reports (``segm/AP_iou_f1``, ``thresholds/score`` ...), listed without
detectron2.

A search checks its ranking metric against this list before it starts anything (``search/checks/preflight.py``);
importing the adapter (:mod:`fashion_core.evaluation.d2_evaluator`) for it would import detectron2 and torch, about
5 s on a CPU before a misspelled metric could even be refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from .inputs import IOU_TYPES
from .summarize import summary_keys

__all__ = ["SWEEP_METRICS", "reported_keys"]

# The numbers a sweep reports under "thresholds/": the best cell (class score, attribute threshold, value) and
# the best with one attribute threshold per class (its class-score threshold, value). The sweep runs on the
# evaluator's first IoU type (segm unless told otherwise): "AP_iou_f1" here is that type's, a key kept as
# spaces, preflight and the README name it; the sweep itself (thresholds.json) records its "iou_type".
SWEEP_METRICS = ("score", "attribute", "AP_iou_f1", "per_class_score", "per_class_AP_iou_f1")


def reported_keys(sweep: bool, iou_types: Sequence[str] = IOU_TYPES) -> list[str]:
    """The flat keys an evaluation reports (``segm/AP_iou_f1``, ..., ``thresholds/*`` with a sweep), in order.

    The same names a trial reports (detectron2's ``flatten_results_dict`` of
    :meth:`~fashion_core.evaluation.d2_evaluator.FashionpediaEvaluator.evaluate`), listed without evaluating
    anything, so a search can refuse a misspelled ranking metric before it starts.
    """
    keys = [f"{t}/{k}" for t in iou_types for k in summary_keys()]
    return keys + ([f"thresholds/{k}" for k in SWEEP_METRICS] if sweep else [])
