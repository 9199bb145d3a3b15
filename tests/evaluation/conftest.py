"""Fixtures of the evaluator tests: the official FPEval as oracle, and a key-by-key comparison."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from fashion_core.evaluation import evaluate_fashionpedia

Oracle = Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]], str], dict[str, float]]


@pytest.fixture(scope="session")
def official() -> Oracle:
    """``run_official(gt, results, iou_type)``: the installed fashionpedia==1.1 FPEval, flat keys."""
    pytest.importorskip("fashionpedia", reason="the official fashionpedia package is the test oracle")
    from fashion_core.evaluation.reference import run_official

    return run_official


def assert_matches_official(official: Oracle, gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]],
                            iou_type: str, tol: float = 1e-9) -> dict[str, float]:
    """Every official key within ``tol`` of ours (and the same key set); returns our numbers."""
    ours = evaluate_fashionpedia(gt, results, iou_type)
    ref = official(gt, results, iou_type)
    assert set(ours) == set(ref)
    bad = {k: (ours[k], ref[k]) for k in ref if not abs(ours[k] - ref[k]) <= tol}
    assert not bad, f"{iou_type}: {len(bad)} keys differ (ours, official): {bad}"
    return ours
