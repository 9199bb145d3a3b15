"""Several objectives: the Pareto front of the results table, and Optuna's Pareto plot of the study.

A multi-objective search (``experiment.objectives``) has no single best trial: a trial is on the Pareto
front when no other trial is at least as good on every objective and better on one. ``results.csv``
marks those trials (``pareto``), each trial judged at its ranked report (the report of its best value of
the first objective, whose checkpoint is kept); the winner (``best/``) is still the first row, ranked by
the first objective.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from search.space import Objective

logger = logging.getLogger(__name__)

PARETO_COLUMN = "pareto"
PARETO_PLOT = "pareto.png"


def pareto_front(table: pd.DataFrame, objectives: Sequence[Objective]) -> pd.Series:
    """True for the rows of ``table`` on the Pareto front of ``objectives`` (columns of ``table``).

    Rows missing a value of any objective (failed, diverged trials) are never on it. Rows with equal
    values on every objective do not dominate each other: both are on the front when one is.

    Written here rather than taken from Optuna: its front (``Study.best_trials``) is computed over a
    study's COMPLETE trials, while the table also ranks trials ASHA stopped and confirmation re-runs;
    Optuna's own non-domination sort is private (``optuna.study._multi_objective``).
    """
    front = pd.Series(False, index=table.index, name=PARETO_COLUMN)
    if table.empty or any(o.metric not in table for o in objectives):
        return front
    values = table[[o.metric for o in objectives]].apply(pd.to_numeric, errors="coerce")
    finite = np.isfinite(values.to_numpy(dtype=float)).all(axis=1)
    # Every objective as "lower is better".
    signs = np.array([-1.0 if o.mode == "max" else 1.0 for o in objectives])
    loss = values.to_numpy(dtype=float)[finite] * signs
    # dominated[i]: some row j is <= i on every objective and < on one (R x R comparisons; R = ranked trials).
    no_worse = (loss[None, :, :] <= loss[:, None, :]).all(axis=2)
    better = (loss[None, :, :] < loss[:, None, :]).any(axis=2)
    dominated = (no_worse & better).any(axis=1)
    front[front.index[finite]] = ~dominated
    return front


def plot_pareto(study: optuna.Study, path: Path) -> bool:
    """Optuna's Pareto-front plot of ``study`` into ``path``: its COMPLETE trials at their last report (the
    values Tune gives the study), axes named by the study's metric names. False, and nothing written, when
    there is nothing to draw: no finished trial, or not two or three objectives (what Optuna draws)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete or len(study.directions) not in (2, 3):
        logger.info("no Pareto plot: %s", "no finished trial" if complete == [] else "Optuna draws 2 or 3 objectives")
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # Optuna marks its matplotlib plots experimental and warns on every call: not news for a user.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = optuna.visualization.matplotlib.plot_pareto_front(study)
    figure = ax.get_figure(root=True)
    assert figure is not None, "Optuna draws into a new figure"
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return True

