"""The closing lines of a search on the console: the ranked trials, the winner, and where everything is."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from search.space import SearchSpec


def print_summary(table: pd.DataFrame, spec: SearchSpec, out: Path, best: Path | None, summary: Path | None,
                  rungs: Sequence[str] = ()) -> None:
    """Print the first 12 ranked rows (the columns that hold something), the winner's mean over seeds, a warning for
    each ASHA rung that ranked trials no better than chance (``rungs``: :func:`search.report.rungs.search_rungs`),
    the ranking metric and where it is set, and the paths of the results, ``best/``, ``summary.md``, the plots and
    TensorBoard."""
    e = spec.experiment
    metric = e.metric
    print("\n=== search finished ===")
    if table.empty:
        print("no trials ran")
    else:
        others = [o.metric for o in e.objectives[1:]]
        cols = ["rank", "stage", "trial", "seed", "status", metric, *others, "pareto", "mean", "std", "reports",
                *[c for c in table.columns if c.startswith("param/")], "error"]
        # Columns with nothing in them (no error, no confirmed config yet) are left out.
        with_cols = [c for c in cols if c in table.columns and table[c].replace("", None).notna().any()]
        with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40,
                               "display.precision", 4):
            # An empty cell: a parameter that trial did not sample, a config that was not confirmed (na_rep covers
            # NaN; an integer column's <NA> is replaced here).
            shown = table[with_cols].head(12).copy()
            for c in shown.columns:
                if isinstance(shown[c].dtype, pd.Int64Dtype):
                    shown[c] = shown[c].astype(object).where(shown[c].notna(), "")
            print(shown.to_string(index=False, na_rep=""))
        winner = table.iloc[0]
        if pd.notna(winner["mean"]):
            spread = f" +- {winner['std']:.4f}" if pd.notna(winner["std"]) else ""
            print(f"\nwinner: {metric} {winner['mean']:.4f}{spread} (mean{' +- std' if spread else ''} over "
                  f"{int(winner['seeds'])} full-budget run(s); its best run {winner[metric]:.4f}, trial "
                  f"{winner.get('trial', winner['trial_id'])})")
    for line in rungs:
        if line.startswith("WARNING"):
            print(f"\n{line} (summary.md: ASHA's rungs)")
    where = "the first of experiment.objectives" if e.objectives else "experiment.metric"
    print(f"\nranked by:   {metric} ({'higher' if e.mode == 'max' else 'lower'} is better; {where} of {spec.source})")
    print(f"results:     {out / 'results.csv'}")
    if best is not None:
        print(f"the winner:  {best}/  (model.pth, config.yaml with its thresholds, metrics.json)")
    if summary is not None:
        print(f"summary:     {summary}  (each choice's best and median per level, importances, plots)")
    print(f"plots:       {out / 'plots'}")
    print(f"TensorBoard: tensorboard --logdir {out}")
