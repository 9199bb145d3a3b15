"""Fashionpedia AP^{IoU+F1} evaluation, identical to the official ``fashionpedia`` FPEval, and fast.

Public API:

* :func:`evaluate_fashionpedia` / :func:`evaluate_files` - the official numbers as flat keys
  ``<metric>_<group>`` (``AP_iou_f1``, ``AP50_iou``, ``AR100_f1`` ...);
* :class:`RawDetections` + :func:`sweep_thresholds` - post-hoc class-score x attribute threshold search;
* :class:`EvaluationInputError` - bad ground truth / results.

The detectron2 adapter lives in :mod:`fashion_core.evaluation.d2_evaluator` (imports detectron2).
Where the official code has quirks they are reproduced; QUIRKS.md (beside this file) lists them.
"""

from __future__ import annotations

from .api import evaluate_fashionpedia, evaluate_files
from .errors import EvaluationInputError
from .predictions import RawDetections
from .thresholds import ThresholdSweep, sweep_thresholds

__all__ = [
    "EvaluationInputError",
    "RawDetections",
    "ThresholdSweep",
    "evaluate_fashionpedia",
    "evaluate_files",
    "sweep_thresholds",
]
