"""What a finished (or interrupted) search leaves for people: a ranked table.

Written into the experiment folder::

    results.csv        one row per trial (search and confirmation), best first: stage, seed, status,
                       error, the ranking metric at the trial's best report, the mean and standard
                       deviation over seeds of confirmed configs, metrics, sampled parameters

The winner's own folder (``best/``) is written by :mod:`search.report.bundle`, the plots and ``summary.md``
by :mod:`search.report.analysis` (from the Optuna study).

Ranking. A trial's value is the ranking metric at its best report, the report whose checkpoint is
kept and shipped (Tune keeps the best checkpoints by the metric, and the latest). Configs that went
through the confirmation stage (:mod:`search.experiment.confirm`) rank first, by the mean of that value over
their full-budget runs (one per seed: the search trial when ASHA let it run to ``max_t``, and the
confirmation re-runs); within a config the full-budget runs come first, best first. Everything else
follows by its own value. The first row is the winner; its checkpoint is the one shipped.

Several objectives (``experiment.objectives``): the ranking metric is the first objective (so the winner,
its report and the confirmation stage follow it), and the ``pareto`` column marks the trials on the Pareto
front of all objectives, each at its ranked report.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from ray.tune import ResultGrid

    from search.space import Objective

logger = logging.getLogger(__name__)

# The stages a trial belongs to (results.csv's ``stage`` column).
SEARCH, CONFIRM = "search", "confirm"


def results_table(
    grids: Sequence[tuple[str, ResultGrid]],
    metric: str,
    mode: str,
    param_names: list[str],
    *,
    seed: int,
    full_budget: int,
    objectives: Sequence[Objective] = (),
) -> pd.DataFrame:
    """One row per trial of every ``(stage, grid)``, ranked as the module docstring says.

    Columns: ``rank, stage, trial_id, seed, status, error, <metric>, [pareto], best_report, reports, mean, std,
    seeds, in_mean, iteration, <other metrics at the best report>, param/<name>..., config, path``.
    ``status`` is one of :data:`STATUSES`; ``error`` says why for ERROR, DIVERGED and INTERRUPTED.
    ``config`` identifies the sampled values (JSON), the same for a search trial and its confirmation
    re-runs. ``mean``/``std``/``seeds`` are set on the rows of confirmed configs; ``in_mean`` marks the
    runs they are computed from.

    Args:
        seed: the experiment seed (a trial's seed unless its config says otherwise).
        full_budget: reports of a trial that ran to the end (``asha.max_t``): fewer is STOPPED (by ASHA).
        objectives: every objective of a multi-objective search (``metric`` first): adds ``pareto`` after
            ``<metric>`` (:func:`search.report.pareto.pareto_front`).
    """
    statuses = {path: status for _, grid in grids for path, status in _tune_statuses(grid).items()}
    rows = [
        _row(stage, result, metric, mode, param_names, seed, statuses.get(str(result.path), "TERMINATED"), full_budget)
        for stage, grid in grids
        for result in trial_results(grid)
    ]
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for name in param_names:
        # An integer choice stays an integer where a conditional parameter was not sampled (pandas would make the
        # column float: 128.0 in results.csv and on the console).
        values = [r[f"param/{name}"] for r in rows]
        if any(v is not None for v in values) and all(
                v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
            table[f"param/{name}"] = pd.array(values, dtype="Int64")
    ascending = mode == "min"
    confirmed = set(table.loc[table["stage"] == CONFIRM, "config"])
    table["in_mean"] = (
        table["config"].isin(confirmed)
        & (table["status"] == "TERMINATED")
        & (table["reports"] >= full_budget)
        & table[metric].notna()
    )
    stats = table[table["in_mean"]].groupby("config")[metric].agg(["mean", "std", "count"])
    table["mean"] = table["config"].map(stats["mean"])
    table["std"] = table["config"].map(stats["std"])
    table["seeds"] = table["config"].map(stats["count"]).fillna(0).astype(int)
    # Sort keys: confirmed configs first (by mean), their runs in the mean first, then the value itself.
    sign = 1.0 if ascending else -1.0
    table["_group"] = table["mean"].map(lambda v: sign * v if pd.notna(v) else math.inf)
    table["_config"] = table["config"].where(table["mean"].notna(), "")
    table["_outside"] = ~table["in_mean"]
    table["_value"] = table[metric].map(lambda v: sign * v if pd.notna(v) else math.inf)
    table = table.sort_values(["_group", "_config", "_outside", "_value"], kind="mergesort")
    table = table.drop(columns=["_group", "_config", "_outside", "_value"])
    table.insert(0, "rank", range(1, len(table) + 1))
    front = ["rank", "stage", "trial", "trial_id", "seed", "status", "error", metric, "best_report", "reports",
             "mean", "std", "seeds", "in_mean"]
    if len(objectives) > 1:
        from search.report.pareto import PARETO_COLUMN, pareto_front

        table[PARETO_COLUMN] = pareto_front(table, objectives)
        front[front.index(metric) + 1:front.index(metric) + 1] = [PARETO_COLUMN]
    table = table[front + [c for c in table.columns if c not in front]]
    return table.reset_index(drop=True)


# TERMINATED: ran all its reports; STOPPED: stopped early by ASHA; INTERRUPTED: the search was interrupted
# (Ctrl-C) before the trial ended (``--resume`` continues it); ERROR: raised; DIVERGED: non-finite loss
# (it reports once more, ranked worst, and ends).
STATUSES = ("TERMINATED", "STOPPED", "INTERRUPTED", "ERROR", "DIVERGED")
# The statuses whose best report ranks the trial (failed and diverged ones have no value and go last).
RANKED = ("TERMINATED", "STOPPED", "INTERRUPTED")


def trial_status(
    error: BaseException | None, metrics: dict[str, Any], tune_status: str, max_reports: int | None
) -> tuple[str, str]:
    """(status, reason) of one trial from its error, its last result and Tune's trial status.

    Tune ends a trial TERMINATED both when it ran ``max_reports`` reports and when ASHA stopped it
    (STOPPED here); one still RUNNING/PAUSED/PENDING in the saved state was interrupted.
    """
    if error:
        return "ERROR", _first_line(error)
    if metrics.get("diverged"):
        return "DIVERGED", str(metrics.get("diverged_reason", "non-finite loss"))
    if tune_status != "TERMINATED":
        return "INTERRUPTED", f"{tune_status.lower()} when the search was interrupted (--resume continues it)"
    if max_reports is not None and int(metrics.get("training_iteration", 0)) < max_reports:
        return "STOPPED", ""
    return "TERMINATED", ""


def _tune_statuses(grid: ResultGrid) -> dict[str, str]:
    """Trial path -> Tune's status. A Result does not carry it; the grid's analysis (which ResultGrid
    itself uses for ``num_errors``) does."""
    analysis = getattr(grid, "_experiment_analysis", None)
    return {str(t.path): str(t.status) for t in getattr(analysis, "trials", None) or []}


def _row(
    stage: str,
    result: Any,
    metric: str,
    mode: str,
    param_names: list[str],
    seed: int,
    tune_status: str,
    full_budget: int,
) -> dict[str, Any]:
    """One trial: its status, and its metrics at its best report (the one whose checkpoint is kept)."""
    last = dict(result.metrics or {})
    config = dict(result.config or {})
    status, reason = trial_status(result.error, last, tune_status, full_budget)
    at_best = _best_report(result, metric, mode) if status in RANKED else {}
    sampled = {name: config[name] for name in param_names if name in config}
    row: dict[str, Any] = {
        "stage": stage,
        "trial_id": last.get("trial_id", Path(str(result.path)).name),
        # The trial's short name: its folder, its TensorBoard run, its line in the plots' legend.
        "trial": Path(str(result.path)).name,
        "seed": int(config.get("seed", seed)),
        "status": status,
        "error": reason,
        # Failed and diverged trials have no value (NaN) and go last.
        metric: at_best.get(metric, math.nan),
        "best_report": at_best.get("training_iteration", math.nan),
        "reports": last.get("training_iteration", 0),
    }
    for key, value in (at_best or last).items():
        if ("/" in key or key == "iteration") and isinstance(value, int | float):
            row.setdefault(key, value)
    for name in param_names:
        row[f"param/{name}"] = config.get(name)
    row["config"] = json.dumps(sampled, sort_keys=True, default=str)
    row["path"] = str(result.path)
    return row


def _best_report(result: Any, metric: str, mode: str) -> dict[str, Any]:
    """The report (row of the trial's progress) with the best ``metric``; the first one on ties."""
    df = result.metrics_dataframe
    if df is None or metric not in df or df[metric].isna().all():
        return {}
    index = df[metric].idxmax() if mode == "max" else df[metric].idxmin()
    return {k: v for k, v in df.loc[index].items() if not (isinstance(v, float) and math.isnan(v))}


def trial_results(grid: ResultGrid) -> list[Any]:
    """The grid's results in trial order (ResultGrid is indexable, not typed as iterable)."""
    return [grid[i] for i in range(len(grid))]


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    # Tune wraps the trial's exception; the most specific line is the last non-empty one.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def write_results(table: pd.DataFrame, out_dir: Path) -> None:
    """Write ``table`` (:func:`results_table`) as ``results.csv`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "results.csv", index=False)
