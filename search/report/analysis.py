"""After a search: load its Optuna study from the database, draw the plots, write ``summary.md``.

:mod:`search.report.plots` draws, :mod:`search.report.summary` writes; this module ties them to the study and keeps
the search's outcome independent of them: whatever goes wrong here is one log line and no summary,
never a failed search (the results, the model bundle and the study are already written).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import optuna
import pandas as pd

from fashion_core.bundle_format import read_thresholds
from search.report.pareto import PARETO_PLOT, plot_pareto
from search.report.plots import PLOTS_DIR, THRESHOLDS_PLOT, draw_study_plots, draw_thresholds, param_importances
from search.report.summary import write_summary
from search.study import WARM_START_ATTR, open_storage

logger = logging.getLogger(__name__)


def write_analysis(
    storage_url: str,
    study_name: str,
    table: pd.DataFrame,
    out_dir: Path,
    *,
    metric: str,
    param_names: Sequence[str],
    thresholds_file: Path | None,
    rungs: Sequence[str] = (),
) -> Path | None:
    """Plots into ``out_dir/plots/`` and ``out_dir/summary.md`` for the study ``study_name`` at ``storage_url``.

    Args:
        table: the ranked results (:func:`search.report.results.results_table`), for the winner.
        param_names: the space's parameters in file order.
        thresholds_file: the winner's ``best/thresholds.json`` (None: no winner).
        rungs: how well ASHA's rungs ranked the trials (:func:`search.report.rungs.search_rungs`).

    Returns:
        the summary's path; None if it could not be written (logged).
    """
    try:
        study, copied = own_trials(optuna.load_study(study_name=study_name, storage=open_storage(storage_url)))
        drawn = draw_study_plots(study, out_dir, metric, names=trial_names(study, table))
        if len(study.directions) > 1 and plot_pareto(study, out_dir / PLOTS_DIR / PARETO_PLOT):
            drawn.files["Pareto front"] = f"{PLOTS_DIR}/{PARETO_PLOT}"
        if copied:
            drawn.notes.append(f"{copied} trials copied into the study by --warm-start (TPE learned from them) are "
                               "left out of this summary and its plots: they are another search's")
        heat_map = out_dir / PLOTS_DIR / THRESHOLDS_PLOT
        if thresholds_file is not None and draw_thresholds(thresholds_file, heat_map):
            drawn.files["thresholds of the winner"] = f"{PLOTS_DIR}/{THRESHOLDS_PLOT}"
        else:
            drawn.notes.append("threshold heat map: the winner has no threshold table (no winner, or "
                               "experiment.thresholds.mode is not posthoc)")
        importances = param_importances(study, drawn.notes)
        thresholds = read_thresholds(thresholds_file) if thresholds_file is not None and thresholds_file.is_file() \
            else None
        return write_summary(study, table, out_dir, metric=metric, storage_url=storage_url, param_names=param_names,
                             importances=importances, plots=drawn.files, notes=drawn.notes, thresholds=thresholds,
                             rungs=rungs)
    except Exception as exc:  # the analysis must never fail a finished search; logged
        logger.warning("summary.md and plots not written: %s: %s", type(exc).__name__, exc)
        return None


def trial_names(study: optuna.Study, table: pd.DataFrame) -> dict[int, str]:
    """Optuna trial number -> the trial's short name (``t003``, its folder's and results.csv's), via the
    ``trial_id`` each study trial carries."""
    if table.empty or "trial" not in table or "trial_id" not in table:
        return {}
    searched = table[table["stage"] == "search"] if "stage" in table else table
    by_id = {str(i): str(name).split("_", 1)[0]
             for i, name in zip(searched["trial_id"], searched["trial"], strict=True)}
    return {t.number: by_id[t.user_attrs["trial_id"]] for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get("trial_id") in by_id}


def own_trials(study: optuna.Study) -> tuple[optuna.Study, int]:
    """(the study, or an in-memory copy holding only this search's own trials; how many were left out).

    A warm-started study also holds the earlier search's trials (user attribute ``warm_start``): what
    this search answers is about the trials it ran.
    """
    trials = study.get_trials(deepcopy=False)
    own = [t for t in trials if WARM_START_ATTR not in t.user_attrs]
    if len(own) == len(trials):
        return study, 0
    copy = optuna.create_study(study_name=study.study_name, directions=study.directions)
    if study.metric_names is not None:
        copy.set_metric_names(study.metric_names)
    copy.add_trials(own)
    return copy, len(trials) - len(own)
