"""What replayed searches add up to, reported as the HPO benchmarks report it (medians and bands over
repetitions, normalised regret, a bootstrap interval).

Per method, over its repetitions:

* the best full-budget value so far (a trial's value, its best report, once it ran all ``max_t`` reports)
  against simulated training iterations and against simulated wall time: median and 25-75% band;
* normalised regret of the final incumbent: ``(v* - v) / (v* - v_worst)``, where ``v`` is the incumbent
  config's value in the table (mean over its recorded seeds), ``v*`` and ``v_worst`` the best and worst
  config there; 0 is the table's best config, a search that finished no trial has regret 1;
* iterations to reach the reference, random search + ASHA's median final best: the first budget at which the
  method's median curve is at least as good, as a ratio to random search + ASHA's median total iterations
  (what a random search of the same space and budget spends), with a bootstrap 95% interval (repetitions of
  both methods resampled with replacement).

And, from the table, how well each report ranks the runs by their full-budget value (Spearman's rho): ASHA
stops trials on the rung reports, so a rung whose rho is near 0 stops them at random.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from search.replay.simulator import SearchTrace
from search.replay.table import CurveTable
from search.report import RungCheck, check_rungs

__all__ = ["REFERENCE", "bootstrap_ratio", "config_values", "full_budget_values", "iteration_grid", "median_curve",
           "method_figures", "reach", "run_value", "rung_agreement", "step_matrix"]

# The method every other is compared with.
REFERENCE = "random_asha"
# Budget points of the curves.
GRID_POINTS = 240


def run_value(values: Sequence[float | None], mode: str) -> float | None:
    """A run's value as the search ranks it: its best report (None when it has no finite one)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    return max(finite) if mode == "max" else min(finite)


def full_budget_values(table: CurveTable, metric: str, mode: str, max_t: int) -> list[tuple[int, float | None]]:
    """(config id, value) of each of the table's runs at the full budget (its best report within ``max_t``
    reports; None for a run that diverged, ended before ``max_t`` reports or has no finite report)."""
    out = []
    for run in table.runs:
        reports = run.reports[:max_t]
        ok = not run.diverged and len(reports) == max_t
        out.append((run.config_id, run_value([r.metrics.get(metric) for r in reports], mode) if ok else None))
    return out


def config_values(table: CurveTable, metric: str, mode: str, max_t: int) -> dict[int, float]:
    """config id -> mean over its seeds of each run's value at the full budget (:func:`full_budget_values`; a
    run without one counts as the table's worst value)."""
    per_run: dict[int, list[float | None]] = {}
    for config_id, value in full_budget_values(table, metric, mode, max_t):
        per_run.setdefault(config_id, []).append(value)
    finite = [v for vs in per_run.values() for v in vs if v is not None]
    worst = (min(finite) if mode == "max" else max(finite)) if finite else 0.0
    return {c: float(np.mean([worst if v is None else v for v in vs])) for c, vs in per_run.items()}


def iteration_grid(table: CurveTable, traces: Iterable[SearchTrace]) -> np.ndarray:
    """The budget points of the iteration curves, shape ``(points,)``: 0 to the longest search of ``traces``
    in steps of the table's shortest first report (a finer grid only repeats values)."""
    step = max(1, min((r.reports[0].iterations for r in table.runs if r.reports), default=1))
    longest = max((t.iterations for t in traces), default=0)
    return np.arange(0, longest + step, step, dtype=np.float64)


def step_matrix(traces: Sequence[SearchTrace], grid: np.ndarray, *, axis: int, mode: str,
                regret: Mapping[int, float] | None = None) -> np.ndarray:
    """Best full-budget value so far of each trace at each point of ``grid`` (``axis`` 1: iterations, 0: seconds),
    shape ``(traces, grid)``; the worst possible value (``-inf`` for max) where there is none yet. With
    ``regret`` (config id -> normalised regret): the incumbent's regret instead, 1 where there is none yet."""
    worst = (-math.inf if mode == "max" else math.inf) if regret is None else 1.0
    out = np.full((len(traces), len(grid)), worst)
    for i, trace in enumerate(traces):
        xs = np.array([e[axis] for e in trace.events], dtype=np.float64)
        if regret is None:
            ys = np.array([worst if e[2] is None else e[2] for e in trace.events], dtype=np.float64)
        else:
            ys = np.array([worst if e[3] is None else regret[e[3]] for e in trace.events], dtype=np.float64)
        if not len(xs):
            continue
        index = np.searchsorted(xs, grid, side="right") - 1  # the last event at or before each point
        out[i] = np.where(index >= 0, ys[np.clip(index, 0, None)], worst)
    return out


def _quantiles(matrix: np.ndarray) -> dict[str, list[float | None]]:
    q = np.percentile(matrix, [25, 50, 75], axis=0, method="lower") if len(matrix) else np.zeros((3, 0))
    return {name: [None if not math.isfinite(v) else float(v) for v in row]
            for name, row in zip(("q25", "median", "q75"), q, strict=True)}


def reach(median: np.ndarray, grid: np.ndarray, target: float, mode: str) -> float:
    """The first budget of ``grid`` where the curve ``median`` is at least as good as ``target`` (inf: never)."""
    ok = median >= target if mode == "max" else median <= target
    hits = np.flatnonzero(ok)
    return float(grid[hits[0]]) if len(hits) else math.inf


def median_curve(matrix: np.ndarray, mode: str) -> np.ndarray:
    """The median over repetitions (rows) of :func:`step_matrix` curves, at each budget point."""
    # "lower": a value some repetition reached (the band's edges too), never a mean of two.
    return np.percentile(matrix, 50, axis=0, method="lower" if mode == "max" else "higher")


def bootstrap_ratio(method: np.ndarray, reference: np.ndarray, reference_finals: np.ndarray,
                    reference_iterations: np.ndarray, grid: np.ndarray, mode: str, *, samples: int = 2000,
                    seed: int = 0) -> tuple[float, float, float]:
    """(ratio, 2.5%, 97.5%): iterations for ``method``'s median curve to reach the reference's median final best,
    over the reference's median total iterations; repetitions of both resampled with replacement.

    Args:
        method / reference: :func:`step_matrix` of each (repetitions x grid, iterations axis).
        reference_finals / reference_iterations: each reference repetition's final best and total iterations.
    """
    def ratio(m_rows: np.ndarray, r_rows: np.ndarray) -> float:
        target = float(np.percentile(reference_finals[r_rows], 50, method="lower"))
        total = float(np.median(reference_iterations[r_rows]))
        return reach(median_curve(method[m_rows], mode), grid, target, mode) / total

    rng = np.random.default_rng(seed)
    n, k = len(method), len(reference)
    point = ratio(np.arange(n), np.arange(k))
    draws = np.array([ratio(rng.integers(0, n, n), rng.integers(0, k, k)) for _ in range(samples)])
    # Order statistics, not interpolation: a resample that never reaches the target is inf (inf - inf is nan).
    lo = np.percentile(draws, 2.5, method="lower")
    hi = np.percentile(draws, 97.5, method="higher")
    return point, float(lo), float(hi)


def method_figures(traces: Sequence[SearchTrace], values: Mapping[int, float], mode: str, grid: np.ndarray,
                   time_grid: np.ndarray) -> dict[str, Any]:
    """One method's figures over its repetitions (module docstring), its curves on the two grids."""
    worst_possible = -math.inf if mode == "max" else math.inf
    finals = np.array([worst_possible if t.final_best is None else t.final_best for t in traces])
    best_v = max(values.values()) if mode == "max" else min(values.values())
    worst_v = min(values.values()) if mode == "max" else max(values.values())
    span = (best_v - worst_v) or 1.0
    regret_of = {c: abs(best_v - v) / abs(span) for c, v in values.items()}
    incumbents = [t.events[-1][3] if t.events else None for t in traces]
    regrets = np.array([1.0 if c is None else regret_of[c] for c in incumbents])
    by_iterations = step_matrix(traces, grid, axis=1, mode=mode)
    by_time = step_matrix(traces, time_grid, axis=0, mode=mode)
    return {
        "final_best_median": _finite_or_none(float(np.percentile(finals, 50, method="lower"))),
        "final_best_q25": _finite_or_none(float(np.percentile(finals, 25, method="lower"))),
        "final_best_q75": _finite_or_none(float(np.percentile(finals, 75, method="lower"))),
        "iterations_median": float(np.median([t.iterations for t in traces])),
        "seconds_median": float(np.median([t.seconds for t in traces])),
        "regret_median": float(np.median(regrets)),
        "regret_q25": float(np.percentile(regrets, 25)),
        "regret_q75": float(np.percentile(regrets, 75)),
        "full_budget_trials_median": float(np.median([sum(tr.full_budget for tr in t.trials) for t in traces])),
        "borrowed_reports": int(sum(t.borrowed for t in traces)),
        "curve_iterations": _quantiles(by_iterations),
        "curve_seconds": _quantiles(by_time),
        "curve_regret": _quantiles(step_matrix(traces, grid, axis=1, mode=mode, regret=regret_of)),
        "_matrix": by_iterations,
        "_finals": finals,
        "_iterations": np.array([t.iterations for t in traces], dtype=np.float64),
    }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def rung_agreement(table: CurveTable, metric: str, mode: str, max_t: int) -> list[RungCheck]:
    """How well each report before ``max_t`` ranks the table's runs by their full-budget value
    (:func:`search.report.check_rungs`, over the runs that made ``max_t`` reports)."""
    full = [r for r in table.runs if not r.diverged and len(r.reports) >= max_t]
    curves = [[rep.metrics.get(metric) for rep in r.reports[:max_t]] for r in full]
    finals = [run_value(c, mode) for c in curves]
    kept = [(c, f) for c, f in zip(curves, finals, strict=True) if f is not None]
    sign = 1.0 if mode == "max" else -1.0  # rho of "better", so a good rung is positive either way
    return check_rungs([[None if v is None else sign * v for v in c] for c, _ in kept],
                       [sign * f for _, f in kept if f is not None], range(1, max_t))
