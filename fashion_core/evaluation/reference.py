"""Run the official ``fashionpedia.fp_eval.FPEval`` (the reference this package reproduces) on dicts.

Used by the tests and ``bench/evaluate.py`` as the oracle; needs the dev dependency ``fashionpedia==1.1``.
The package predates numpy 2 (it calls ``np.float``); the alias is restored here for its call only, and
its printing is silenced. Inputs are deep-copied because ``loadRes``/``_prepare`` mutate them.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .summarize import GROUPS, key_specs

_OFFICIAL_NAMES = {"AP50": "AP_IOU50", "AP75": "AP_IOU75"}


def official_name(flat: str) -> str:
    """Flat metric name -> the official key (``AP50_F175`` -> ``AP_IOU50_F175``, ``AR10`` -> ``AR@10``)."""
    if flat in _OFFICIAL_NAMES:
        return _OFFICIAL_NAMES[flat]
    if flat.startswith("AP") and "_F1" in flat and flat[2:4].isdigit():
        return f"AP_IOU{flat[2:4]}{flat[4:]}"
    if flat in ("ARs", "ARm", "ARl"):
        return flat + "@100"
    if flat.startswith("AR"):
        return "AR@" + flat[2:]
    return flat


@contextlib.contextmanager
def _numpy_float_alias() -> Iterator[None]:
    had = "float" in np.__dict__
    old = np.__dict__.get("float")
    np.float = float  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if had:
            np.float = old  # type: ignore[attr-defined]
        else:
            del np.float  # type: ignore[attr-defined]


def run_official(gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]], iou_type: str) -> dict[str, float]:
    """The official numbers as flat keys (``AP_iou_f1``...), like :func:`.api.evaluate_fashionpedia`.

    An empty ``results`` list crashes the official ``loadRes`` (it reads ``anns[0]``); here the results
    object is then built directly with no annotations, which is what ``FPEval`` scores as "no detections".
    """
    from fashionpedia.fp import Fashionpedia
    from fashionpedia.fp_eval import FPEval

    with _numpy_float_alias(), contextlib.redirect_stdout(io.StringIO()):
        fp_gt = Fashionpedia()
        fp_gt.dataset = copy.deepcopy(dict(gt))
        fp_gt.createIndex()
        if results:
            fp_dt = fp_gt.loadRes(copy.deepcopy(list(results)))
        else:
            fp_dt = Fashionpedia()
            fp_dt.dataset = {
                "images": list(fp_gt.dataset["images"]),
                "annotations": [],
                "categories": fp_gt.dataset["categories"],
                "attributes": fp_gt.dataset["attributes"],
            }
            fp_dt.createIndex()
        evaluator = FPEval(fp_gt, fp_dt, iou_type)
        evaluator.run()
    groups = {"iou_f1": evaluator.results, "iou": evaluator.resultDet, "f1": evaluator.resultF1}
    out: dict[str, float] = {}
    for group, (use_f1, use_iou) in GROUPS.items():
        official = groups[group]
        for spec in key_specs(use_f1, use_iou):
            out[f"{spec.name}_{group}"] = float(official[official_name(spec.name)])
        extra = set(official) - {official_name(s.name) for s in key_specs(use_f1, use_iou)}
        if extra:
            raise AssertionError(f"official {group} keys not mapped: {sorted(extra)}")
    return out
