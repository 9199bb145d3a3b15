"""The official summary numbers (``FPEval._summarize_with_cat``) as flat keys ``<metric>_<group>``.

Groups: ``iou_f1`` = ``FPEval.results`` (IoU and F1 thresholds), ``iou`` = ``resultDet`` (F1 slot -1),
``f1`` = ``resultF1`` (IoU slot -1). Metric names are the official keys with ``_IOU`` and ``@...`` dropped:
``AP_IOU50_F175`` -> ``AP50_F175``, ``AR@10`` -> ``AR10``, ``ARs@100`` -> ``ARs``.

Each number is the mean of the table entries the official code selects, in the same layout (so the
float sum runs in the same order), ignoring -1 entries; -1 when nothing is left. Note the weighting
this implies (QUIRKS.md 14): a category checked for attributes contributes 10 F1 slots, another one 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .accumulate import Tables
from .matching import FREE
from .params import (
    AREA_LABELS,
    CATS_WITH_ATTRIBUTES,
    F1_THRESHOLDS,
    IOU_THRESHOLDS,
    MAX_DETS,
    SUPER_CATEGORY_INDICES,
    SUPER_CATEGORY_KEYS,
)

# (use_f1, use_iou) of each group, as passed to the official _summarize_with_cat.
GROUPS: dict[str, tuple[bool, bool]] = {"iou_f1": (True, True), "iou": (False, True), "f1": (True, False)}


@dataclass(frozen=True)
class KeySpec:
    """One official summary number: what ``_summarize`` is called with."""

    name: str  # flat metric name, e.g. "AP50_F175"
    kind: str  # "ap" or "ar"
    iou_thr: float | None = None
    f1_thr: float | None = None
    area: str = "all"
    max_dets: int = 100
    super_idx: int | None = None


def key_specs(use_f1: bool, use_iou: bool) -> list[KeySpec]:
    """The keys the official code produces for one group, in its order."""
    specs = [
        KeySpec("AP" + key, "ap", super_idx=i) for i, key in enumerate(SUPER_CATEGORY_KEYS) if not (i == 1 and use_f1)
    ]  # the official code skips accessories ('a') whenever F1 is used
    specs.append(KeySpec("AP", "ap"))
    if use_iou:
        specs += [KeySpec("AP50", "ap", iou_thr=0.5), KeySpec("AP75", "ap", iou_thr=0.75)]
    if use_f1:
        specs += [KeySpec("AP_F150", "ap", f1_thr=0.5), KeySpec("AP_F175", "ap", f1_thr=0.75)]
    if use_f1 and use_iou:
        specs += [KeySpec(f"AP{i}_F1{j}", "ap", iou_thr=i / 100, f1_thr=j / 100) for i in (50, 75) for j in (50, 75)]
    specs += [KeySpec("AP" + a[0], "ap", area=a) for a in AREA_LABELS[1:]]
    specs += [KeySpec(f"AR{m}", "ar", max_dets=m) for m in MAX_DETS]
    specs += [KeySpec("AR" + a[0], "ar", area=a) for a in AREA_LABELS[1:]]
    return specs


def selection(spec: KeySpec, use_f1: bool, use_iou: bool, n_cat: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """IoU slots and (category index, F1 slot) pairs the official ``_summarize`` averages, in its order."""
    if use_iou and spec.iou_thr is not None:
        t_idx = np.where(spec.iou_thr == IOU_THRESHOLDS)[0]
    elif use_iou:
        t_idx = np.arange(len(IOU_THRESHOLDS) - 1)
    else:
        t_idx = np.array([FREE])
    cats = list(range(n_cat))
    if spec.super_idx is not None:
        cats = [c for c in cats if c in SUPER_CATEGORY_INDICES[spec.super_idx]]
    pairs: list[tuple[int, int]] = []
    for c in cats:
        # Category *indices* are tested against CATS_WITH_ATTRIBUTES here (QUIRKS.md 13).
        if not use_f1 or c not in CATS_WITH_ATTRIBUTES:
            pairs.append((c, FREE))
        elif spec.f1_thr is not None:
            pairs += [(c, int(f)) for f in np.where(spec.f1_thr == F1_THRESHOLDS)[0]]
        else:
            pairs += [(c, f) for f in range(len(F1_THRESHOLDS) - 1)]
    return t_idx, pairs


def summary_value(tables: Tables, spec: KeySpec, use_f1: bool, use_iou: bool) -> float:
    """One official number: mean of the selected entries > -1, else -1."""
    n_cat = tables.recall.shape[2]
    t_idx, pairs = selection(spec, use_f1, use_iou, n_cat)
    a = AREA_LABELS.index(spec.area)
    m = MAX_DETS.index(spec.max_dets)
    if not pairs:
        return -1.0
    if spec.kind == "ap":
        s = np.stack([tables.precision[t_idx, f, :, c, a, m] for c, f in pairs], axis=-1)  # (T', R, C')
    else:
        s = np.stack([tables.recall[t_idx, f, c, a, m] for c, f in pairs], axis=-1)  # (T', C')
    kept = s[s > -1]
    return float(np.mean(kept)) if kept.size else -1.0


def summary_keys() -> list[str]:
    """The keys :func:`summarize` returns, in its order, without computing anything (to validate a metric name)."""
    return [f"{spec.name}_{group}" for group, (f1, iou) in GROUPS.items() for spec in key_specs(f1, iou)]


def summarize(tables: Tables) -> dict[str, float]:
    """All three official groups as one flat dict, e.g. ``{"AP_iou_f1": ..., "AP50_iou": ..., ...}``."""
    out: dict[str, float] = {}
    for group, (use_f1, use_iou) in GROUPS.items():
        for spec in key_specs(use_f1, use_iou):
            out[f"{spec.name}_{group}"] = summary_value(tables, spec, use_f1, use_iou)
    return out
