"""Everything a finished (or interrupted) search writes for people, in order: ``results.csv`` (the ranked
table, :mod:`.results`), the winner's ``best/`` (:mod:`.bundle`), the plots and ``summary.md`` (:mod:`.analysis`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fashion_core.bundle_format import THRESHOLDS_FILE
from fashion_core.data import DatasetSpec
from search.report.analysis import write_analysis
from search.report.bundle import write_best
from search.report.results import results_table, trial_results, write_results
from search.report.rungs import search_rungs
from search.space import SearchSpec


def ranked_trials(grids: Sequence[tuple[str, Any]], spec: SearchSpec) -> pd.DataFrame:
    """:func:`results_table` of the ``(stage, ResultGrid)`` pairs, ranked as the space says (its metric and mode,
    parameters, seed, full budget and objectives)."""
    e = spec.experiment
    return results_table(grids, e.metric, e.mode, [p.name for p in spec.params], seed=e.seed,
                         full_budget=e.asha.max_t, objectives=e.all_objectives)


@dataclass(frozen=True)
class Written:
    """What :func:`write_outcome` wrote: the ranked table, ``best/`` (None: no winner, or interrupted),
    ``summary.md`` (None: not written, logged) and what it says of ASHA's rungs (:func:`search_rungs`)."""

    table: pd.DataFrame
    best: Path | None
    summary: Path | None
    rungs: tuple[str, ...] = ()


def write_outcome(grids: Sequence[tuple[str, Any]], spec: SearchSpec, out_dir: Path, dataset: DatasetSpec,
                  study_url: str, study_name: str, *, interrupted: bool) -> Written:
    """Write ``results.csv``, ``best/`` and the analysis into ``out_dir``. An interrupted search ships nothing yet:
    its ranking is not final (``--resume`` finishes it)."""
    e = spec.experiment
    table = ranked_trials(grids, spec)
    write_results(table, out_dir)
    results = {str(r.path): r for _, grid in grids for r in trial_results(grid)}
    best = None if interrupted else write_best(table, results, out_dir, e.metric, e.mode, dataset)
    rungs = search_rungs(list(results.values()), e.metric, e.mode, e.asha) if e.scheduler == "asha" else []
    summary = write_analysis(study_url, study_name, table, out_dir, metric=e.metric,
                             param_names=[p.name for p in spec.params],
                             thresholds_file=best / THRESHOLDS_FILE if best else None, rungs=rungs)
    return Written(table, best, summary, tuple(rungs))
