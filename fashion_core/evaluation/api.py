"""Entry points: evaluate a results list (or files) against Fashionpedia ground truth, like ``FPEval.run()``.

>>> metrics = evaluate_fashionpedia(gt_dict, results_list, "segm")
>>> metrics["AP_iou_f1"], metrics["AP50_iou"], metrics["AR100_f1"]

The pipeline's stages are in :mod:`._pipeline`; :mod:`.summarize` turns its tables into the official keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._pipeline import compute_tables, prepare
from .errors import EvaluationInputError
from .inputs import IOU_TYPES
from .summarize import summarize


def evaluate_fashionpedia(
    gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]], iou_type: str = "segm"
) -> dict[str, float]:
    """The official FPEval numbers of ``results`` on ``gt`` for ``iou_type`` ("segm" or "bbox").

    Args:
        gt: a Fashionpedia ground-truth dict (images, annotations with attribute_ids, categories, attributes).
        results: Fashionpedia results (image_id, category_id, score, segmentation as compressed RLE
            and/or bbox, attribute_ids). Neither argument is modified.
    Returns:
        flat ``<metric>_<group>`` keys (see :mod:`.summarize`); -1.0 where the official code gives -1.
    Raises:
        EvaluationInputError: on input the official code would reject or crash on.
    """
    return summarize(compute_tables(prepare(gt, results, iou_type)))


def read_json(path: str | Path, what: str) -> Any:
    """Parse a JSON file; a missing or malformed file is an :class:`EvaluationInputError` naming it."""
    p = Path(path)
    try:
        with p.open("r", encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError as exc:
        raise EvaluationInputError(str(p), "file", f"{what} file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationInputError(str(p), "file", f"cannot read the {what} file ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise EvaluationInputError(str(p), f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}") from exc
    except RecursionError:  # json.load recurses per nesting level: a hostile file can exhaust the stack
        raise EvaluationInputError(str(p), "document", f"the {what} file is nested too deep to read") from None


def evaluate_files(
    gt_path: str | Path, results_path: str | Path, iou_types: Sequence[str] = IOU_TYPES
) -> dict[str, dict[str, float]]:
    """``{"segm": {...}, "bbox": {...}}`` for a ground-truth JSON and a results JSON."""
    gt = read_json(gt_path, "ground truth")
    results = read_json(results_path, "results")
    out: dict[str, dict[str, float]] = {}
    for iou_type in iou_types:
        try:
            out[iou_type] = evaluate_fashionpedia(gt, results, iou_type)
        except EvaluationInputError as exc:
            path = gt_path if exc.source == "ground truth" else results_path
            raise EvaluationInputError(f"{exc.source} {Path(path)}", exc.where, exc.problem) from exc
    return out
