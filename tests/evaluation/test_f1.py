"""Attribute F1: bit-identical to sklearn's f1_score(average="macro") on the official multi-hot vectors."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from fashion_core.evaluation.f1 import attribute_bits, binary_macro_f1, pair_f1


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_binary_macro_f1_is_sklearn_bit_for_bit(n: int, data: st.DataObject) -> None:
    g = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.int32)
    d = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = f1_score(g, d, average="macro")
    ours = binary_macro_f1(np.array([int((g & d).sum())]), np.array([int(g.sum())]), np.array([int(d.sum())]), n)
    assert ours[0] == expected


def test_known_values() -> None:
    # 294 attributes, one right and one wrong: label 1 F1 = 0.5, label 0 F1 = 2*292/(293+293).
    ours = binary_macro_f1(np.array([1, 0, 0]), np.array([2, 0, 0]), np.array([1, 0, 3]), 294)
    assert ours[0] == (2 * 292 / 585 + 2 / 3) / 2
    assert ours[1] == 1.0  # both empty: only label 0, perfect
    assert ours[2] == (2 * 291 / 585 + 0.0) / 2  # 3 predicted, none true: label 1 scores 0
    assert binary_macro_f1(np.array([3]), np.array([3]), np.array([3]), 3)[0] == 1.0  # only label 1


def test_pair_f1_from_attribute_lists() -> None:
    columns = {5: 0, 9: 1, 300: 2}
    dets = attribute_bits([{"attribute_ids": [5, 9]}, {"attribute_ids": []}], columns, "results", ["a", "b"])
    gts = attribute_bits([{"attribute_ids": [9, 9]}], columns, "ground truth", ["c"])
    f1 = pair_f1(dets, gts, np.array([0, 1]), np.array([0, 0]), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert f1[0] == f1_score([0, 1, 0], [1, 1, 0], average="macro")
        assert f1[1] == f1_score([0, 1, 0], [0, 0, 0], average="macro")
