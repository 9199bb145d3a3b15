"""The plots of a finished search: Optuna's own, drawn from the study, and the winner's threshold table.

Written into ``<experiment>/plots/``::

    importances.png          parameter importances (Optuna's default evaluator, PED-ANOVA)
    history.png              the ranking metric of each full-budget trial in order, and the best so far
    parallel_coordinate.png  every full-budget trial as a line across the searched parameters
    slices/<param>.png       the ranking metric against one parameter (log axis for log-sampled ones,
                             categories as categories: Optuna reads both from the study's distributions)
    intermediate_values.png  every trial's reports (learning curves; ASHA's stops show)
    thresholds.png           the winner's class-score x attribute threshold table, the chosen cell marked

Optuna draws history, slices, parallel coordinates and importances from COMPLETE trials only, which here
are the trials that ran the full budget (an ASHA-stopped trial is PRUNED: :mod:`search.study`); the
intermediate values show every trial. A plot that cannot be drawn (no full-budget trial yet, a single
trial for importances) is left out with a note in ``summary.md``; an unexpected error is one log line,
never a failed search.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from fashion_core.bundle_format import read_thresholds

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

PLOTS_DIR = "plots"
SLICES_DIR = "slices"
THRESHOLDS_PLOT = "thresholds.png"


@dataclass
class Drawn:
    """What :func:`draw_study_plots` wrote (paths relative to the experiment folder) and what it left out."""

    files: dict[str, str] = field(default_factory=dict)  # plot name -> relative path
    notes: list[str] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # Optuna trial number -> the trial's name


def draw_study_plots(study: optuna.Study, out_dir: Path, metric: str,
                     names: Mapping[int, str] | None = None) -> Drawn:
    """Draw Optuna's plots of ``study`` into ``out_dir/plots/``.

    Args:
        metric: the ranking metric's name (axis labels). A multi-objective study is plotted on its first
            objective, the one ASHA stops on.
        names: Optuna trial number -> the trial's name everywhere else (its folder's ``t003``): Optuna labels
            trials "Trial2" in legends and by number on its "Trial" axes; those labels become the names.
    """
    import optuna.visualization.matplotlib as ovm

    drawn = Drawn(names=dict(names or {}))
    # Multi-objective studies need a target for the single-objective plots: the first objective.
    target: Callable[[optuna.trial.FrozenTrial], float] | None = (
        (lambda t: t.values[0]) if len(study.directions) > 1 else None
    )
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    reported = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if reported:
        _draw(drawn, out_dir, "intermediate values", "intermediate_values.png",
              lambda: _relabel(ovm.plot_intermediate_values(study), "report (training_iteration)", metric))
    else:
        drawn.notes.append("intermediate values: no trial reported a value")
    if not complete:
        drawn.notes.append("history, parallel coordinates, slices and importances: no trial ran the full budget "
                           "(Optuna draws them from COMPLETE trials; ASHA-stopped ones are PRUNED)")
        return drawn
    _draw(drawn, out_dir, "history", "history.png",
          lambda: ovm.plot_optimization_history(study, target=target, target_name=metric))
    params = _param_names(complete)
    _draw(drawn, out_dir, "parallel coordinates", "parallel_coordinate.png",
          lambda: _widen(ovm.plot_parallel_coordinate(study, target=target, target_name=metric), len(params) + 1))
    for name in params:
        _draw(drawn, out_dir, f"slice {name}", f"{SLICES_DIR}/{name}.png",
              lambda name=name: ovm.plot_slice(study, params=[name], target=target, target_name=metric))  # type: ignore[misc]
    if len(complete) < 2:
        drawn.notes.append(f"importances: need at least 2 full-budget trials, the study has {len(complete)}")
    else:
        _draw(drawn, out_dir, "importances", "importances.png",
              lambda: ovm.plot_param_importances(study, target=_importance_target(study), target_name=metric))
    return drawn


def param_importances(study: optuna.Study, notes: list[str]) -> dict[str, float] | None:
    """Optuna's parameter importances (its default evaluator, PED-ANOVA) on the first objective, over the
    full-budget trials; None (noted by :func:`draw_study_plots`) with fewer than 2 of them, or with a note
    in ``notes`` if Optuna cannot compute them."""
    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return None
    try:
        with optuna_calls(notes, "importances"):
            return optuna.importance.get_param_importances(study, target=_importance_target(study))
    except Exception as exc:  # logged and noted; the rest of the summary stands
        logger.warning("parameter importances not computed: %s: %s", type(exc).__name__, exc)
        notes.append(f"importances: not computed ({type(exc).__name__}: {exc})")
        return None


def draw_thresholds(thresholds_file: Path, path: Path) -> bool:
    """Draw the winner's ``best/thresholds.json`` as a heat map into ``path``; False if there is no file.

    Left: the metric for every class-score x attribute threshold, the chosen cell outlined. Right: the
    metric when each category takes its own best attribute threshold, per class-score threshold, the
    row the winner's config applies outlined (its value is what ``best/config.yaml`` scores).
    """
    if not thresholds_file.is_file():
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sweep = read_thresholds(thresholds_file)
    table = np.asarray(sweep.table, dtype=float)  # (S, U)
    per_class = np.asarray(sweep.per_class_table, dtype=float)[:, None]  # (S, 1)
    scores, attributes = sweep.score_thresholds, sweep.attribute_thresholds
    # What best/config.yaml applies; a report's own table (no choice made) outlines its best cell.
    chosen = sweep.chosen
    score, attribute = (chosen.score_threshold, chosen.attribute_threshold) if chosen else sweep.best[:2]
    row, col = scores.index(score), attributes.index(attribute)
    low, high = float(min(table.min(), per_class.min())), float(max(table.max(), per_class.max()))
    with matplotlib.rc_context():
        fig, (left, right) = plt.subplots(
            1, 2, figsize=(1.0 + 0.75 * (len(attributes) + 2), 1.6 + 0.45 * len(scores)),
            gridspec_kw={"width_ratios": [len(attributes), 1]}, squeeze=True,
        )
        image = left.imshow(table, cmap="viridis", vmin=low, vmax=high, aspect="auto")
        right.imshow(per_class, cmap="viridis", vmin=low, vmax=high, aspect="auto")
        for ax, values, x_labels in ((left, table, [f"{a:g}" for a in attributes]), (right, per_class, ["own"])):
            ax.set_xticks(range(len(x_labels)), x_labels)
            ax.set_yticks(range(len(scores)), [f"{s:g}" for s in scores])
            for (i, j), value in np.ndenumerate(values):
                ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=7,
                        color="black" if value > (low + high) / 2 else "white")
        left.add_patch(plt.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.5))
        right.add_patch(plt.Rectangle((-0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.5))
        left.set_xlabel("attribute threshold")
        left.set_ylabel("class-score threshold")
        right.set_xlabel("per-class\nthresholds")
        right.tick_params(labelleft=False)
        left.set_title(f"{sweep.metric} of the winner's report (red: what best/config.yaml applies)",
                       fontsize=9, loc="left")
        fig.colorbar(image, ax=[left, right], shrink=0.85)
        _save(fig, path)
    return True


def _draw(drawn: Drawn, out_dir: Path, title: str, relative: str, plot: Callable[[], Any]) -> None:
    """Run one Optuna plot function and save its figure as ``plots/<relative>``; a failure is one log line."""
    path = out_dir / PLOTS_DIR / relative
    try:
        with optuna_calls(drawn.notes, title):
            axes = plot()
            # Most plots return one Axes; plot_slice of several parameters returns an array of them.
            first = axes.flat[0] if hasattr(axes, "flat") else axes
            _name_trials(first.figure, drawn.names)
            _save(first.figure, path)
    except Exception as exc:  # a plot must never fail the search; the reason is logged
        logger.warning("plot %s not drawn: %s: %s", relative, type(exc).__name__, exc)
        drawn.notes.append(f"{title}: not drawn ({type(exc).__name__}: {exc})")
        return
    drawn.files[title] = f"{PLOTS_DIR}/{relative}"


@contextlib.contextmanager
def optuna_calls(notes: list[str], title: str) -> Iterator[None]:
    """Around Optuna's plot and importance functions: headless matplotlib, Optuna's style changes
    (``plt.style.use("ggplot")``) undone afterwards, and its warnings sorted.

    Optuna's ExperimentalWarning (every matplotlib plot function is marked experimental), matplotlib's
    "identical low and high limits" (one value on an axis; it widens the axis itself) and PED-ANOVA's
    reminder that a given target must be lower-is-better are dropped; any other (e.g. PED-ANOVA's "less
    than 2 trials" in a regime) becomes a note ``"<title>: <warning>"``.
    """
    import matplotlib

    matplotlib.use("Agg")
    # matplotlib logs at INFO that categories such as backbone depths "are all parsable as floats": by design.
    category_log = logging.getLogger("matplotlib.category")
    level = category_log.level
    category_log.setLevel(logging.WARNING)
    try:
        with matplotlib.rc_context(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", message="Attempting to set identical low and high")
            # Said whenever a target is given; _importance_target gives one that is lower-is-better.
            warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes the importances")
            yield
    finally:
        category_log.setLevel(level)
    for warning in caught:
        note = f"{title}: {warning.message}"
        if note not in notes:
            notes.append(note)


def _name_trials(fig: Figure, names: Mapping[int, str]) -> None:
    """Optuna's trial labels as the trials' names: legend entries "Trial3", and the numbers of axes (and colour
    bars) labelled "Trial"; so a plot says ``t004`` where results.csv, TensorBoard and the folders do."""
    if not names:
        return
    from matplotlib.ticker import FuncFormatter

    def name(number: float, _pos: int | None = None) -> str:
        return names.get(int(number), "") if float(number).is_integer() else ""

    for ax in fig.axes:
        legend = ax.get_legend()
        for text in legend.get_texts() if legend is not None else []:
            match = re.fullmatch(r"Trial(\d+)", text.get_text())
            if match and int(match.group(1)) in names:
                text.set_text(names[int(match.group(1))])
        for axis, label in ((ax.xaxis, ax.get_xlabel()), (ax.yaxis, ax.get_ylabel())):
            if label == "Trial":
                axis.set_major_formatter(FuncFormatter(name))
                axis.set_label_text("trial")


def _relabel(ax: Any, xlabel: str, ylabel: str) -> Any:
    """Axis names of this search instead of Optuna's generic ones ("Step", "Intermediate Value")."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def _importance_target(study: optuna.Study) -> Callable[[optuna.trial.FrozenTrial], float] | None:
    """None for a single objective (Optuna reads its direction); the first objective of a multi-objective
    study, negated when maximized: PED-ANOVA given a target takes lower as better."""
    if len(study.directions) == 1:
        return None
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return lambda t: sign * t.values[0]


def _widen(ax: Any, columns: int) -> Any:
    """Room for every axis of a parallel-coordinate plot (Optuna's default width overlaps past ~6)."""
    width, height = ax.figure.get_size_inches()
    ax.figure.set_size_inches(max(width, 1.1 * columns), height)
    return ax


def _param_names(trials: list[optuna.trial.FrozenTrial]) -> list[str]:
    """Parameters of ``trials`` in the order they were first sampled (the space file's order)."""
    names: dict[str, None] = {}
    for trial in trials:
        names.update(dict.fromkeys(trial.params))
    return list(names)


def _save(fig: Figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
