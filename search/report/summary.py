"""``<experiment>/summary.md``: the answers a search gives, drawn from its Optuna study and ``results.csv``.

For every searched choice (backbone, head depth, shared vs per-class outputs, loss, ...) the best and
median ranking metric per level with trial counts, the parameter importances, and the winner, with
links to the plots (:mod:`search.report.plots`). Optuna's plots and its dashboard show trials one by one; the
per-level table of an ablation ("focal or BCE?") is what they do not give, hence this module.

Which trials count: every trial of the study with a value, at its best report (its best intermediate
value: the value ``results.csv`` ranks search trials by; a trial without reports counts with its final
value, a stopped trial of a multi-objective study with its ``values_at_stop``; trials copied by
``--warm-start`` are left out by :func:`search.report.analysis.own_trials`). ASHA stops the trials that are
worse at the same budget, so a stopped trial (PRUNED) trained fewer iterations and its value is of lower fidelity: each
level gives ``full`` (ran the whole budget, COMPLETE) and ``stopped`` counts, and the best over
full-budget trials apart. Failed trials count in no level. The confirmation stage's re-runs (other
seeds of the top configs) are not study trials: they give the winner's mean and std.
Numeric parameters are split into three bins of equal width over their sampled range (in log space
for log-sampled ones); an integer parameter with at most six values is shown by value.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from fashion_core.bundle_format import ThresholdTable

SUMMARY_FILE = "summary.md"
# Bins of a numeric parameter; integer parameters with at most MAX_INT_LEVELS values are shown by value.
NUMERIC_BINS = 3
MAX_INT_LEVELS = 6


@dataclass(frozen=True)
class Scored:
    """One study trial with a value: its parameters, its value, whether it ran the full budget."""

    params: Mapping[str, Any]
    value: float
    full: bool


@dataclass(frozen=True)
class Level:
    """One row of a parameter's table: a level (or bin) and the trials that sampled it."""

    label: str
    values: tuple[float, ...]
    full_values: tuple[float, ...]


def _rungs(rungs: Sequence[str]) -> list[str]:
    if not rungs:
        return []
    return ["## ASHA's rungs", "",
            "How well each rung's report ranked the runs that trained the whole budget (the trials ASHA let finish "
            "and the confirmation runs), by Spearman's rho with their full-budget value:", "",
            *[f"- {line}" for line in rungs], ""]


def scored_trials(study: optuna.Study) -> list[Scored]:
    """The trials that count (module docstring): COMPLETE and PRUNED ones with a finite value."""
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    scored = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        reports = [v for v in trial.intermediate_values.values() if math.isfinite(v)]
        if reports:
            value = max(reports) if maximize else min(reports)
        elif trial.values is not None and math.isfinite(trial.values[0]):
            value = trial.values[0]
        elif trial.user_attrs.get("values_at_stop") and math.isfinite(trial.user_attrs["values_at_stop"][0]):
            # A multi-objective study keeps no intermediate values: a stopped trial's are a user attribute.
            value = trial.user_attrs["values_at_stop"][0]
        else:
            continue
        scored.append(Scored(trial.params, float(value), trial.state == TrialState.COMPLETE))
    return scored


def levels(name: str, distribution: BaseDistribution, scored: Sequence[Scored]) -> list[Level]:
    """The levels of parameter ``name`` (categories in the space's order, integers, or numeric bins)."""
    sampled = [s for s in scored if name in s.params]
    if isinstance(distribution, CategoricalDistribution):
        keys: list[tuple[str, Any]] = [(_label(c), lambda v, c=c: v == c) for c in distribution.choices]
    elif isinstance(distribution, IntDistribution) and _int_values(distribution) <= MAX_INT_LEVELS:
        keys = [(str(v), lambda x, v=v: x == v)
                for v in range(distribution.low, distribution.high + 1, distribution.step)]
    else:
        assert isinstance(distribution, FloatDistribution | IntDistribution), distribution
        keys = _bins(float(distribution.low), float(distribution.high), distribution.log)
    rows = []
    for label, member in keys:
        inside = [s for s in sampled if member(s.params[name])]
        rows.append(Level(label, tuple(s.value for s in inside), tuple(s.value for s in inside if s.full)))
    return rows


def write_summary(
    study: optuna.Study,
    table: pd.DataFrame,
    out_dir: Path,
    *,
    metric: str,
    storage_url: str,
    param_names: Sequence[str],
    importances: Mapping[str, float] | None,
    plots: Mapping[str, str],
    notes: Sequence[str],
    thresholds: ThresholdTable | None = None,
    rungs: Sequence[str] = (),
) -> Path:
    """Write ``out_dir/summary.md``.

    Args:
        table: the ranked results (:func:`search.report.results.results_table`); its first row is the winner.
        storage_url: the study's database (an SQLite path is written into the dashboard command; another
            URL is not, as it may hold a password).
        param_names: the space's parameters in file order (parameters never sampled are listed too).
        importances: parameter -> importance (None: not computed; the reason is in ``notes``).
        plots: plot title -> path relative to ``out_dir`` (:class:`search.report.plots.Drawn`), linked.
        notes: what was left out and why, and Optuna's warnings.
        thresholds: the winner's ``best/thresholds.json`` (None: no winner, or no post-hoc threshold search).
        rungs: one sentence per ASHA rung, how well it ranked the trials that ran past it
            (:func:`search.report.rungs.search_rungs`); warnings name the setting to change.
    """
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    scored = scored_trials(study)
    states = Counter(t.state.name for t in study.get_trials(deepcopy=False))
    lines = [
        f"# Search `{study.study_name}`",
        "",
        f"Ranking metric `{metric}` ({'higher' if maximize else 'lower'} is better). The study has "
        f"{sum(states.values())} trials: {states['COMPLETE']} ran the full budget, {states['PRUNED']} were "
        f"stopped by ASHA, {states['FAIL']} failed" + (f", {states['RUNNING']} unfinished" if states["RUNNING"] else "")
        + ".",
        "",
        *_winner(table, metric, study, thresholds),
        *_rungs(rungs),
        *_importances(importances, states["COMPLETE"]),
        *_choices(study, scored, param_names, importances or {}, plots, maximize),
        *_plots(plots, storage_url),
    ]
    if notes:
        lines += ["## Notes", "", *[f"- {note}" for note in notes], ""]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SUMMARY_FILE
    path.write_text("\n".join(lines))
    return path


def _winner(table: pd.DataFrame, metric: str, study: optuna.Study, thresholds: ThresholdTable | None) -> list[str]:
    lines = ["## Winner", ""]
    if table.empty or metric not in table or pd.isna(table.loc[0, metric]):
        return [*lines, "No trial produced a value: no winner.", ""]
    row = table.loc[0]
    # The study trial of the winner, or for a confirmation re-run the search trial with its config: by its name
    # (its folder, results.csv, TensorBoard, the plots) and its number in optuna-dashboard, which numbers trials
    # from 0 (t005 is its trial 4); search.study sets the user attribute trial_id.
    same = sorted(table.loc[table["config"] == row["config"], "trial_id"]) if "config" in table else []
    by_id = {t.user_attrs.get("trial_id"): t.number for t in study.get_trials(deepcopy=False)}
    names = dict(zip(table["trial_id"], table["trial"], strict=True)) if "trial" in table else {}
    config_of = [i for i in same if i in by_id]
    if row["trial_id"] in by_id:
        in_study = f", study trial {by_id[row['trial_id']]} in optuna-dashboard"
    else:
        in_study = (f", the config of search trial `{names.get(config_of[0], config_of[0])}`, study trial "
                    f"{by_id[config_of[0]]} in optuna-dashboard") if config_of else ""
    lines.append(f"Trial `{row.get('trial', row['trial_id'])}` ({row['stage']} stage, seed {row['seed']}{in_study}): "
                 f"**{metric} = {row[metric]:.4g}** at its best report ({row['best_report']:g} of {row['reports']:g}).")
    if pd.notna(row.get("mean")):
        spread = f" +- {row['std']:.4g}" if pd.notna(row.get("std")) else ""
        seeds = int(row["seeds"])
        lines.append(f"Over {seeds} full-budget run(s) with different seeds (confirmation stage): "
                     f"mean{' +- std' if spread else ''} **{row['mean']:.4g}{spread}**.")
        if seeds < FEW_SEEDS:
            lines.append(f"A mean over {seeds} seed(s) is a hint of the seed noise, not a measurement of it: "
                         f"{FEW_SEEDS} or more tell it (`experiment.confirm.seeds`).")
    params = {c.removeprefix("param/"): row[c] for c in table.columns if c.startswith("param/") and pd.notna(row[c])}
    lines += ["", "| parameter | value |", "| --- | --- |", *[f"| {k} | {_label(v)} |" for k, v in params.items()]]
    lines += ["", "Model bundle: `best/` (thresholds in `best/thresholds.json`, `plots/thresholds.png`)."]
    return [*lines, *_on_the_edge(thresholds), ""]


# Fewer full-budget runs of the winner than this and its mean +- std is called a hint.
FEW_SEEDS = 5


def _on_the_edge(thresholds: ThresholdTable | None) -> list[str]:
    """A line for each chosen threshold at the lowest or highest value of its grid: the best may lie beyond."""
    if thresholds is None or thresholds.chosen is None:
        return []
    lines = []
    for what, value, grid, key in (
        ("class-score", thresholds.chosen.score_threshold, thresholds.score_thresholds, "score_grid"),
        ("attribute", thresholds.chosen.attribute_threshold, thresholds.attribute_thresholds, "attribute_grid"),
    ):
        if len(grid) < 2 or min(grid) < value < max(grid):
            continue
        side, beyond = ("lowest", "lower") if value == min(grid) else ("highest", "higher")
        lines.append(f"The chosen {what} threshold {value:g} is the {side} of the grid "
                     f"[{', '.join(f'{g:g}' for g in grid)}]: a {beyond} one may score better "
                     f"(widen `experiment.thresholds.{key}`).")
    return ["", *lines] if lines else []


def _importances(importances: Mapping[str, float] | None, complete: int) -> list[str]:
    if not importances:
        return []
    return [
        "## Parameter importances",
        "",
        f"Optuna's PED-ANOVA over the {complete} full-budget trials: how much each parameter matters for reaching",
        "the top 10% of values (they sum to 1; `plots/importances.png`). With fewer than about 50 trials they are",
        "a hint, not a measurement.",
        "",
        "| parameter | importance |",
        "| --- | --- |",
        *[f"| {name} | {value:.3f} |" for name, value in importances.items()],
        "",
    ]


def _choices(
    study: optuna.Study,
    scored: Sequence[Scored],
    param_names: Sequence[str],
    importances: Mapping[str, float],
    plots: Mapping[str, str],
    maximize: bool,
) -> list[str]:
    distributions: dict[str, BaseDistribution] = {}
    for trial in study.get_trials(deepcopy=False):
        for name, distribution in trial.distributions.items():
            distributions.setdefault(name, distribution)
    names = list(dict.fromkeys([*param_names, *distributions]))
    best = max if maximize else min
    lines = [
        "## Each searched choice",
        "",
        "Per level: trials with a value (each at its best report), of which `full` ran the whole budget and",
        "`stopped` were stopped early by ASHA (fewer iterations: lower-fidelity values), the best and median",
        "value over all of them, and the best over full-budget trials only. Failed trials count nowhere; the",
        "confirmation stage's re-runs are not study trials (they give the winner's mean +- std).",
        "",
    ]
    for name in names:
        importance = f", importance {importances[name]:.3f}" if name in importances else ""
        lines += [f"### {name}{importance}", ""]
        if name not in distributions:
            lines += ["Never sampled (its condition never held).", ""]
            continue
        count = sum(name in s.params for s in scored)
        if count < len(scored):
            lines += [f"Sampled in {count} of {len(scored)} trials (a conditional parameter).", ""]
        lines += ["| level | trials | full | stopped | best | median | best full |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for level in levels(name, distributions[name], scored):
            values, full = level.values, level.full_values
            lines.append(
                f"| {level.label} | {len(values)} | {len(full)} | {len(values) - len(full)} | "
                f"{_number(best(values) if values else None)} | "
                f"{_number(statistics.median(values) if values else None)} | "
                f"{_number(best(full) if full else None)} |"
            )
        slice_plot = plots.get(f"slice {name}")
        lines += ["", *([f"![{name}]({slice_plot})", ""] if slice_plot else [])]
    return lines


def _plots(plots: Mapping[str, str], storage_url: str) -> list[str]:
    listed = [f"- [{title}]({path})" for title, path in plots.items() if not title.startswith("slice ")]
    url = storage_url if storage_url.startswith("sqlite:") else "<the study's --storage-url>"
    return ["## Plots", "", *listed, "", f"Interactive (docs/comparing-trials.md): `optuna-dashboard {url}`", ""]


def _bins(low: float, high: float, log: bool) -> list[tuple[str, Any]]:
    """NUMERIC_BINS bins of equal width over [low, high] (in log space if ``log``); the last one closed."""
    lo, hi = (math.log(low), math.log(high)) if log else (low, high)
    edges = [lo + (hi - lo) * i / NUMERIC_BINS for i in range(NUMERIC_BINS + 1)]
    if log:
        edges = [math.exp(e) for e in edges]
    edges[0], edges[-1] = low, high  # exactly the distribution's bounds, not exp(log(x))
    bins = []
    for i in range(NUMERIC_BINS):
        a, b, last = edges[i], edges[i + 1], i == NUMERIC_BINS - 1
        label = f"[{a:.3g}, {b:.3g}{']' if last else ')'}"
        bins.append((label, lambda v, a=a, b=b, last=last: a <= v <= b if last else a <= v < b))
    return bins


def _int_values(distribution: IntDistribution) -> int:
    return (distribution.high - distribution.low) // distribution.step + 1


def _label(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
