"""How well ASHA's rungs rank trials: each rung report's value against the full-budget value, over runs that
trained the whole budget (a search's confirmation runs and the trials ASHA let finish; every run of a recorded
table).

ASHA keeps the best ``1 / reduction_factor`` of the trials at each rung report and stops the rest on that report's
value alone. That helps only if the report ranks trials roughly as the full budget does: Spearman's rho between
the two, over the runs that have both. A rung whose rho is not above 0 (one-sided test at 5%, with at least
:data:`MIN_RUNS` runs) stops trials no better than at random; the advice names the setting to change: the first
report that does rank them (``experiment.asha.grace_period``), or no early stopping at all.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from search.space import Asha

__all__ = ["MIN_RUNS", "RungCheck", "asha_rungs", "check_rungs", "rung_advice", "search_rungs"]

# Fewer runs than this with both values cannot show a rank correlation either way.
MIN_RUNS = 5
# A report ranks trials well enough to stop on when its rho is at least this (and above 0 at 5%).
GOOD_RHO = 0.5
ALPHA = 0.05


@dataclass(frozen=True)
class RungCheck:
    """One report: Spearman's rho with the full-budget value, its one-sided p-value (rho > 0), the runs counted."""

    report: int
    rho: float | None
    p: float | None
    runs: int

    @property
    def ranks(self) -> bool:
        """Better than chance: enough runs, rho above 0 at the 5% level."""
        return self.runs >= MIN_RUNS and self.p is not None and self.p < ALPHA

    @property
    def good(self) -> bool:
        return self.ranks and self.rho is not None and self.rho >= GOOD_RHO


def asha_rungs(max_t: int, grace_period: int, reduction_factor: float, brackets: int = 1) -> list[int]:
    """The reports ASHA decides at (every bracket's rungs below ``max_t``), as Ray's scheduler builds them."""
    from ray.tune.schedulers import AsyncHyperBandScheduler

    scheduler = AsyncHyperBandScheduler(time_attr="training_iteration", metric="m", mode="max", max_t=max_t,
                                        grace_period=grace_period, reduction_factor=reduction_factor,
                                        brackets=brackets)
    return sorted({int(milestone) for bracket in scheduler._brackets for milestone, _ in bracket._rungs
                   if milestone < max_t})


def check_rungs(curves: Sequence[Sequence[float | None]], finals: Sequence[float], reports: Sequence[int]
                ) -> list[RungCheck]:
    """:class:`RungCheck` of each of ``reports`` (1-based).

    Args:
        curves: per run, its value at each report (None: not finite or not made).
        finals: per run, its full-budget value (its value as the search ranks it).
    """
    from scipy.stats import spearmanr

    out = []
    for k in reports:
        pairs = [(c[k - 1], f) for c, f in zip(curves, finals, strict=True)
                 if len(c) >= k and c[k - 1] is not None and math.isfinite(f)]
        rho = p = None
        if len(pairs) >= 3:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # constant input: nan, said as None
                res = spearmanr(*zip(*pairs, strict=True), alternative="greater")
            if math.isfinite(res.statistic):
                rho, p = float(res.statistic), float(res.pvalue)
        out.append(RungCheck(k, rho, p, len(pairs)))
    return out


def rung_advice(rungs: Sequence[RungCheck], every_report: Sequence[RungCheck], grace_period: int) -> list[str]:
    """One sentence per rung ASHA decides at, and a warning with the setting to change for each that ranks
    trials no better than chance.

    Args:
        rungs: checks of the rung reports.
        every_report: checks of every report before the full budget (where a better first rung is looked for).
    """
    lines = []
    first_good = next((c.report for c in every_report if c.good), None)
    for c in rungs:
        figure = f"rho {c.rho:.2f} over {c.runs} runs" if c.rho is not None else f"no rank correlation ({c.runs} runs)"
        if c.runs < MIN_RUNS:
            lines.append(f"rung at report {c.report}: {figure}; too few runs trained the full budget to tell "
                         "whether it ranks trials")
        elif c.ranks:
            lines.append(f"rung at report {c.report}: {figure}; ranks trials better than chance")
        else:
            if first_good is not None and first_good > grace_period:
                fix = f"raise experiment.asha.grace_period to {first_good} (report {first_good} ranks them)"
            elif first_good is None:
                fix = ("no report before the full budget ranks them: set experiment.scheduler: fifo, or record "
                       "longer runs")
            else:
                fix = ("an earlier report ranks them and this one does not: more full-budget runs would tell; "
                       "experiment.asha.reduction_factor moves this rung")
            lines.append(f"WARNING: rung at report {c.report}: {figure}; ranks trials no better than chance, so "
                         f"ASHA stops them at random there: {fix}")
    return lines


def search_rungs(results: Sequence[Any], metric: str, mode: str, asha: Asha) -> list[str]:
    """:func:`rung_advice` for a finished search: its runs that trained the whole budget (``asha.max_t``
    reports: the trials ASHA let finish and the confirmation stage's), each report's raw value against the
    run's value (its best report, as the search ranks it).

    Args:
        results: Tune ``Result`` objects of both stages (their ``metrics_dataframe``: one row per report).
    """
    sign = 1.0 if mode == "max" else -1.0  # rho of "better": a good rung is positive either way
    curves, finals = [], []
    for result in results:
        frame = result.metrics_dataframe
        if frame is None or metric not in frame or "training_iteration" not in frame:
            continue
        if "diverged" in frame and frame["diverged"].fillna(0).astype(bool).any():
            continue
        by_report = {int(k): float(v) for k, v in zip(frame["training_iteration"], frame[metric], strict=True)}
        if len(by_report) < asha.max_t or max(by_report) < asha.max_t:
            continue
        curve = [by_report.get(k) for k in range(1, asha.max_t + 1)]
        values = [sign * v for v in curve if v is not None and math.isfinite(v)]
        if not values:
            continue
        curves.append([None if v is None or not math.isfinite(v) else sign * v for v in curve])
        finals.append(max(values))
    rungs = asha_rungs(asha.max_t, asha.grace_period, asha.reduction_factor, asha.brackets)
    every = check_rungs(curves, finals, range(1, asha.max_t))
    return rung_advice([c for c in every if c.report in rungs], every, asha.grace_period)
