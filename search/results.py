"""What a finished (or interrupted) search leaves for people: a ranked table, the best config, plots.

Written into the experiment folder::

    results.csv        one row per trial, best first: status, error, metrics, sampled parameters
    best_config.yaml   the best trial's effective detectron2 config, ready for ``python -m fashion_core.train``
    plots/curves.png   the ranking metric of every trial against training reports (ASHA's rungs show)
    plots/params.png   the ranking metric of each trial against each searched parameter
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from ray.tune import ResultGrid

logger = logging.getLogger(__name__)


def results_table(
    grid: ResultGrid, metric: str, mode: str, param_names: list[str], max_reports: int | None = None
) -> pd.DataFrame:
    """One row per trial, ranked by ``metric`` (best first; trials without it last).

    Columns: ``rank, trial_id, status, error, <metric>, reports, iteration, <other metrics>,
    <parameters>, path``. ``status`` is one of :data:`STATUSES`; ``error`` says why for ERROR and DIVERGED.
    ``max_reports`` (ASHA's ``max_t``) tells a trial that ran all its reports from one ASHA stopped early.
    """
    rows: list[dict[str, Any]] = []
    tune_status = _tune_statuses(grid)
    for result in _results(grid):
        metrics = dict(result.metrics or {})
        config = dict(result.config or {})
        status, reason = trial_status(
            result.error, metrics, tune_status.get(str(result.path), "TERMINATED"), max_reports
        )
        row: dict[str, Any] = {
            "trial_id": metrics.get("trial_id", Path(str(result.path)).name),
            "status": status,
            "error": reason,
            metric: metrics.get(metric, math.nan),
            "reports": metrics.get("training_iteration", 0),
        }
        for key, value in metrics.items():
            if "/" in key or key == "iteration":
                row.setdefault(key, value)
        for name in param_names:
            row[f"param/{name}"] = config.get(name)
        row["path"] = str(result.path)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    # Failed trials have no metric (NaN) and go last, like diverged ones (reported as the worst value).
    table = table.sort_values(metric, ascending=(mode == "min"), na_position="last", kind="mergesort")
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


# TERMINATED: ran all its reports; STOPPED: stopped early by ASHA; INTERRUPTED: the search was interrupted
# (Ctrl-C) before the trial ended (``--resume`` continues it); ERROR: raised; DIVERGED: non-finite loss
# (it reports once more, ranked worst, and ends).
STATUSES = ("TERMINATED", "STOPPED", "INTERRUPTED", "ERROR", "DIVERGED")


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


def _results(grid: ResultGrid) -> list[Any]:
    """The grid's results in trial order (ResultGrid is indexable, not typed as iterable)."""
    return [grid[i] for i in range(len(grid))]


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    # Tune wraps the trial's exception; the most specific line is the last non-empty one.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def write_results(
    grid: ResultGrid, out_dir: Path, metric: str, mode: str, param_names: list[str], max_reports: int | None = None
) -> pd.DataFrame:
    """Write ``results.csv``, ``best_config.yaml`` and ``plots/`` into ``out_dir``; return the table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = results_table(grid, metric, mode, param_names, max_reports)
    table.to_csv(out_dir / "results.csv", index=False)
    if not table.empty and not math.isnan(float(table.loc[0, metric])):
        best_cfg = Path(str(table.loc[0, "path"])) / "train" / "config.yaml"
        if best_cfg.is_file():
            shutil.copyfile(best_cfg, out_dir / "best_config.yaml")
        else:
            logger.warning("best trial's config not found at %s", best_cfg)
    plot_curves(grid, metric, out_dir / "plots" / "curves.png")
    plot_params(table, metric, param_names, out_dir / "plots" / "params.png")
    return table


def plot_curves(grid: ResultGrid, metric: str, path: Path) -> None:
    """``metric`` against ``training_iteration`` for every trial (one line each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for result in _results(grid):
        df = result.metrics_dataframe
        if df is None or metric not in df or "training_iteration" not in df:
            continue
        ax.plot(df["training_iteration"], df[metric], marker="o", label=Path(str(result.path)).name[:24])
    ax.set_xlabel("evaluation report (training_iteration)")
    ax.set_ylabel(metric)
    ax.set_title("learning curves of all trials")
    if ax.lines and len(ax.lines) <= 12:
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_params(table: pd.DataFrame, metric: str, param_names: list[str], path: Path) -> None:
    """One panel per searched parameter: each trial's final ``metric`` against its value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    n = max(1, len(param_names))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, param_names):
        column = f"param/{name}"
        data = table[[column, metric]].dropna() if column in table and metric in table else pd.DataFrame()
        if not data.empty:
            values = data[column]
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                ax.scatter(values, data[metric])
                if values.min() > 0 and values.max() / values.min() > 20:
                    ax.set_xscale("log")
            else:
                labels = values.astype(str)
                ax.scatter(labels, data[metric])
        ax.set_title(name)
        ax.set_ylabel(metric, fontsize=7)
    for ax in list(axes.flat)[len(param_names):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
