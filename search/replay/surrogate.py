"""The weights of the replay's nearest-config surrogate, fitted to the table, and how faithful it is.

A replayed search is only as good a test of a searcher as the surrogate's answers to configs off the table: if
the recorded config that answers a proposal is no better a guess of that proposal's result than a config drawn
at random, no searcher can learn anything from its trials, and every method replays as random search. With every
parameter weighted 1 (:class:`~search.replay.nearest.Nearest`'s default), a proposal is answered by the recorded
config that agrees with it on the most choices, and a numeric parameter, whose difference is at most 1, hardly
counts; on ``bench/curves/tiny_cpu.csv.gz`` that makes the learning rate, the parameter that matters most there,
all but ignored, and a held-out config's answer ranks the held-out configs no better than chance.

So the weights are fitted as surrogate benchmarks fit their models to the recorded data (YAHPO Gym, LCBench's
surrogates): each recorded config is left out in turn and answered by its nearest other config, and the weights
(one per parameter, from :data:`GRID`) are chosen coordinate by coordinate to maximise Spearman's rank
correlation between those answers' values and the left-out configs' own values (a config's value: the mean over
its seeds of each run's best report within the full budget, :func:`~search.replay.figures.config_values`). It
is still a nearest-neighbour answer with a recorded curve (its seed noise included), only nearer where it counts.

Its faithfulness is reported three ways, against the ceiling that seed noise sets:

* ``cross_validated_rho``: the weights fitted without a fold of configs, then that fold answered (``folds``
  folds): what the surrogate does for configs it was not fitted on, the figure to trust;
* ``fitted_rho``: leave-one-out with the weights fitted on every config (optimistic);
* ``unit_rho``: leave-one-out with every weight 1 (the surrogate before the fit);
* ``seed_rho``: one seed's run values against another's, over configs with two seeds (no surrogate does better).

Why by hand: scikit-learn's nearest-neighbour regressors take one metric for all features and learn no
per-feature weights, and Optuna's parameter importances leave out every trial a conditional parameter is
inactive in.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from search.replay.figures import config_values, run_value
from search.replay.nearest import Nearest
from search.replay.table import CurveTable

__all__ = ["GRID", "MIN_CONFIGS", "Surrogate", "fit_surrogate", "unit_surrogate"]

# Weights a parameter may take (0: the parameter does not decide the answer at all).
GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
# Fewer configs with full-budget runs than this: too few to fit to, the weights stay 1.
MIN_CONFIGS = 10
SWEEPS = 4


@dataclass(frozen=True)
class Surrogate:
    """The surrogate's weights and faithfulness (module docstring); rhos are None where there are too few configs.

    Attributes:
        weights: parameter name -> weight in the distance.
        fitted: the weights were fitted (False: all 1, too few configs or asked for).
        configs: configs with full-budget runs (those fitted to and measured on).
    """

    weights: dict[str, float]
    fitted: bool
    configs: int
    cross_validated_rho: float | None
    fitted_rho: float | None
    unit_rho: float | None
    seed_rho: float | None

    def describe(self) -> str:
        """One line for the console."""
        def f(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        if self.fitted:
            heavy = sorted((kv for kv in self.weights.items() if kv[1] > 0), key=lambda kv: -kv[1])
            unused = [name for name, w in self.weights.items() if w == 0]
            kind = "weights fitted to the table (" + ", ".join(f"{name} {w:g}" for name, w in heavy) + (
                f"; 0: {', '.join(unused)})" if unused else ")")
        else:
            kind = "every weight 1"
        if self.unit_rho is None:
            return (f"surrogate: nearest recorded config, {kind}; {self.configs} configs ran the full budget, too "
                    f"few (< {MIN_CONFIGS}) to measure how its answers rank them")
        return (f"surrogate: nearest recorded config, {kind}; how a held-out config's answer ranks "
                f"the {self.configs} configs (Spearman's rho): {f(self.cross_validated_rho)} cross-validated, "
                f"{f(self.unit_rho)} with every weight 1, {f(self.seed_rho)} seed against seed (the ceiling)")


def unit_surrogate(table: CurveTable, metric: str, mode: str, max_t: int) -> Surrogate:
    """Every weight 1, with its faithfulness measured."""
    data = _Data.of(table, metric, mode, max_t)
    ones = {p.name: 1.0 for p in table.params}
    if data is None or data.n < MIN_CONFIGS:
        # Too few to rank: a rho over a handful of configs says nothing.
        return Surrogate(ones, False, 0 if data is None else data.n, None, None, None,
                         _seed_rho(table, metric, mode, max_t))
    unit = data.loo_rho(np.ones(data.width))
    return Surrogate(ones, False, data.n, None, unit, unit, _seed_rho(table, metric, mode, max_t))


def fit_surrogate(table: CurveTable, metric: str, mode: str, max_t: int, *, folds: int = 5,
                  seed: int = 0) -> Surrogate:
    """The weights fitted to ``table``'s configs with full-budget runs (module docstring), or every weight 1 when
    there are fewer than :data:`MIN_CONFIGS` of them. Deterministic: the same table and seed, the same weights."""
    data = _Data.of(table, metric, mode, max_t)
    if data is None or data.n < MIN_CONFIGS:
        return unit_surrogate(table, metric, mode, max_t)
    everyone = np.arange(data.n)
    weights = data.fit(everyone)
    order = np.random.default_rng(seed).permutation(data.n)
    answers = np.empty(data.n)
    for fold in np.array_split(order, min(folds, data.n)):
        rest = np.setdiff1d(everyone, fold)
        answers[fold] = data.answers(data.fit(rest), fold, rest)
    return Surrogate({p.name: float(w) for p, w in zip(table.params, weights, strict=True)}, True, data.n,
                     _rho(answers, data.values), data.loo_rho(weights), data.loo_rho(np.ones(data.width)),
                     _seed_rho(table, metric, mode, max_t))


@dataclass(frozen=True)
class _Data:
    """Configs with full-budget runs: their values ``(n,)`` and per-parameter differences ``(n, n, params)``."""

    values: np.ndarray
    differences: np.ndarray

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def width(self) -> int:
        return int(self.differences.shape[2])

    @classmethod
    def of(cls, table: CurveTable, metric: str, mode: str, max_t: int) -> _Data | None:
        complete = [r for r in table.runs if r.diverged or len(r.reports) >= max_t]
        short = {r.config_id for r in table.runs if not (r.diverged or len(r.reports) >= max_t)}
        runs = tuple(r for r in complete if r.config_id not in short)
        if not runs:
            return None
        values = config_values(dataclasses.replace(table, runs=runs), metric, mode, max_t)
        by_config = {r.config_id: r.params for r in runs}
        ids = list(values)
        nearest = Nearest(table.params, {c: by_config[c] for c in ids})
        differences = np.stack([nearest.differences(by_config[c]) for c in ids])
        sign = 1.0 if mode == "max" else -1.0  # "better" is larger either way; rho is unchanged by it
        return cls(sign * np.array([values[c] for c in ids]), differences)

    def answers(self, weights: np.ndarray, rows: np.ndarray, among: np.ndarray) -> np.ndarray:
        """The value of each row's nearest config among ``among`` (itself excluded), shape ``(rows,)``."""
        d = self.differences[np.ix_(rows, among)] @ weights
        d[rows[:, None] == among[None, :]] = np.inf
        return self.values[among[np.argmin(d, axis=1)]]  # argmin: the first of equal distances, as Nearest

    def loo_rho(self, weights: np.ndarray, rows: np.ndarray | None = None) -> float:
        rows = np.arange(self.n) if rows is None else rows
        return _rho(self.answers(weights, rows, rows), self.values[rows])

    def fit(self, rows: np.ndarray) -> np.ndarray:
        """Coordinate ascent over :data:`GRID` from every weight 1, maximising leave-one-out rho on ``rows``."""
        weights = np.ones(self.width)
        best = self.loo_rho(weights, rows)
        for _ in range(SWEEPS):
            improved = False
            for j in range(self.width):
                for w in GRID:
                    if w == weights[j]:
                        continue
                    trial = weights.copy()
                    trial[j] = w
                    if not trial.any():
                        continue
                    score = self.loo_rho(trial, rows)
                    if score > best + 1e-12:
                        best, weights, improved = score, trial, True
            if not improved:
                break
        return weights


def _rho(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return -1.0  # no ranking at all: the worst a fit can score
    return float(spearmanr(a, b).statistic)


def _seed_rho(table: CurveTable, metric: str, mode: str, max_t: int) -> float | None:
    """Rank correlation of the first two seeds' run values over the configs that have two full-budget runs."""
    pairs = []
    for runs in table.configs().values():
        full = [r for r in runs if not r.diverged and len(r.reports) >= max_t]
        if len(full) >= 2:
            a, b = (run_value([rep.metrics.get(metric) for rep in r.reports[:max_t]], mode) for r in full[:2])
            if a is not None and b is not None:
                pairs.append((a, b))
    if len(pairs) < MIN_CONFIGS:
        return None
    rho = _rho(*zip(*pairs, strict=True))
    return None if math.isnan(rho) else rho
