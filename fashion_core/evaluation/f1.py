"""Attribute-set F1 between a detection and a ground truth, exactly as the official evaluator computes it.

The official code turns both attribute lists into multi-hot vectors over the N attributes of the
ground-truth file and calls ``sklearn.metrics.f1_score(gt, dt, average="macro")`` on them
(``FPParams.f1Type = "binary_macro"``). "Macro" over a binary vector averages the F1 of the label 1
(the attributes) *and of the label 0* (the attributes absent from both), over whichever of the two
labels occur in either vector. So two empty sets score 1.0, and a wrong attribute among 294 still
leaves a high label-0 F1: F1 = 0.5 * (2·|G∩D| / (|G| + |D|) + 2·(N - |G∪D|) / (2N - |G| - |D|)).

Each per-label score is computed as scikit-learn does, ``2·tp / (true + pred)`` in float64 (one
correctly rounded division), and the two are averaged as ``(f0 + f1) / 2``, so values match bit for bit.
Sets are packed bit rows (uint8, N bits), so the counts for P pairs cost O(P·N/8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import EvaluationInputError


def attribute_bits(
    records: Sequence[Mapping[str, Any]],
    columns: Mapping[Any, int],
    source: str,
    wheres: Sequence[str],
) -> np.ndarray:
    """(n, ceil(N/8)) uint8 packed multi-hot rows of each record's ``attribute_ids`` over ``columns``.

    Raises :class:`EvaluationInputError` where the official ``_multihot`` raises: a missing
    ``attribute_ids`` or an id that is not an attribute of the ground truth.
    """
    n_attr = len(columns)
    if n_attr == 0:
        raise EvaluationInputError(
            "ground truth", "attributes", "the list is empty, so attribute F1 cannot be computed (sklearn rejects it)"
        )
    rows: list[int] = []
    cols: list[int] = []
    for i, (rec, where) in enumerate(zip(records, wheres)):
        ids = rec.get("attribute_ids") if isinstance(rec, Mapping) else None
        if ids is None or isinstance(ids, str | bytes) or not hasattr(ids, "__iter__"):
            raise EvaluationInputError(source, where, f"'attribute_ids' must be a list, got {ids!r}")
        for a in ids:
            col = columns.get(a) if _hashable(a) else None
            if col is None:
                raise EvaluationInputError(source, where, f"attribute id {a!r} is not in the ground truth's attributes")
            rows.append(i)
            cols.append(col)
    dense = np.zeros((len(records), n_attr), dtype=bool)
    dense[np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)] = True
    return np.packbits(dense, axis=1)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def pack_columns(dense: np.ndarray) -> np.ndarray:
    """(n, N) bool multi-hot rows -> (n, ceil(N/8)) uint8 packed rows."""
    return np.packbits(dense.astype(bool, copy=False), axis=1)


def popcount(bits: np.ndarray) -> np.ndarray:
    """(n, B) uint8 packed rows -> (n,) int64 number of set bits per row."""
    return np.bitwise_count(bits).sum(axis=1, dtype=np.int64)


def pair_f1(
    det_bits: np.ndarray,
    gt_bits: np.ndarray,
    det_index: np.ndarray,
    gt_index: np.ndarray,
    n_attributes: int,
) -> np.ndarray:
    """(P,) float64 official F1 of the pairs (det_bits[det_index[p]], gt_bits[gt_index[p]])."""
    n_pred = popcount(det_bits)[det_index]
    n_true = popcount(gt_bits)[gt_index]
    both = np.bitwise_count(det_bits[det_index] & gt_bits[gt_index]).sum(axis=1, dtype=np.int64)
    return binary_macro_f1(both, n_true, n_pred, n_attributes)


def binary_macro_f1(both: np.ndarray, n_true: np.ndarray, n_pred: np.ndarray, n_attributes: int) -> np.ndarray:
    """(P,) float64 ``f1_score(y_true, y_pred, average="macro")`` of binary vectors of length N from counts.

    Args:
        both: (P,) |G ∩ D|; n_true: (P,) |G|; n_pred: (P,) |D|; n_attributes: N >= 1.
    """
    n = n_attributes
    sum1 = (n_true + n_pred).astype(np.float64)
    sum0 = (2 * n - n_true - n_pred).astype(np.float64)
    tp0 = (n - (n_true + n_pred - both)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        f_one = (2.0 * both.astype(np.float64)) / sum1
        f_zero = (2.0 * tp0) / sum0
    has_one = sum1 > 0  # label 1 occurs in y_true or y_pred
    has_zero = sum0 > 0  # label 0 occurs
    return np.where(has_one & has_zero, (f_zero + f_one) / 2, np.where(has_one, f_one, f_zero))
