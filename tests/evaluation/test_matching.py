"""The greedy kernel on hand-made blocks: the official two-criteria "best so far" and the ignore rule."""

from __future__ import annotations

import numpy as np

from fashion_core.evaluation.matching import greedy_kernel


def _run(iou: list[list[float]], f1: list[list[float]], ignored: list[bool], thr_iou: float, thr_f1: float,
         stays_free: list[bool] | None = None) -> list[int]:
    out = greedy_kernel(np.array([iou], dtype=float), np.array([f1], dtype=float), np.array([ignored]),
                        np.array([stays_free or [False] * len(ignored)]), np.array([thr_iou]), np.array([thr_f1]))
    return out[0, 0, 0].tolist()


def test_best_so_far_needs_both_iou_and_f1_at_least_as_good() -> None:
    # Gt 0 (IoU .6, F1 .9) is taken first; gt 1 has a higher IoU but a lower F1, so it does not replace it;
    # gt 2 is at least as good on both (ties go to the later one).
    assert _run([[0.6, 0.9, 0.6]], [[0.9, 0.8, 0.9]], [False] * 3, 0.5, 0.5) == [2]
    assert _run([[0.6, 0.9, 0.55]], [[0.9, 0.8, 0.95]], [False] * 3, 0.5, 0.5) == [0]


def test_no_constraint_lanes_take_the_first_free_ground_truth() -> None:
    assert _run([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], [[0.0] * 2] * 3, [False, False], -1.0, -1.0) == [1, 0, -1]


def test_ignored_ground_truth_only_without_a_regular_match() -> None:
    assert _run([[0.7, 0.9]], [[1.0, 1.0]], [False, True], 0.5, -1.0) == [0]
    assert _run([[0.2, 0.9]], [[1.0, 1.0]], [False, True], 0.5, -1.0) == [1]


def test_crowd_stays_free_only_when_asked() -> None:
    iou = [[0.8], [0.8]]
    assert _run(iou, [[1.0]] * 2, [True], 0.5, -1.0, stays_free=[True]) == [0, 0]
    assert _run(iou, [[1.0]] * 2, [True], 0.5, -1.0) == [0, -1]
