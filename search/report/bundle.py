"""The winner of a search as a self-contained folder, ``<experiment>/best/``::

    model.pth        the checkpoint of the winning report (the winner's best report, not its latest)
    config.yaml      that trial's effective config with the winning thresholds written in:
                     ROI_HEADS.SCORE_THRESH_TEST (class score), ROI_ATTRIBUTE_HEAD.SCORE_THRESH
                     (attribute) and ROI_ATTRIBUTE_HEAD.CLASS_SCORE_THRESH (per class),
                     MODEL.WEIGHTS: model.pth (read beside the file), no path under Ray's temporary folder
    thresholds.json  the report's whole class-score x attribute table, the chosen cell, the per-class
                     thresholds (by category id) and what the config applies
    metrics.json     what the winner scored: trial id, report, seed(s), the ranking value, the mean and
                     standard deviation over its seeds, every metric of the report, and the torch thread
                     count it was evaluated with (CPU float sums depend on it)
    dataset.json     the dataset it was ranked on (``fashion_core.train --eval-only`` reads it)

``python -m fashion_core.train --config best/config.yaml --eval-only`` evaluates it again and
reproduces the report's ``thresholds/*`` numbers; ``fashion_core.predict --model best`` uses it.
The files' names, writers and readers are :mod:`fashion_core.bundle_format`'s; the winning thresholds reach
the config through :mod:`fashion_core.evaluation.config_thresholds`, beside the evaluator that reads them.

Which thresholds: for ``thresholds/per_class_AP_iou_f1`` the per-class row's score threshold and its
per-class attribute thresholds; otherwise the best (score, attribute) cell, with the per-class attribute
thresholds chosen at that same score threshold (each category's best, at least as good on the
validation split). Categories the sweep could not judge (no ground truth, or attributes not checked)
keep the cell's attribute threshold.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fashion_core.bundle_format import (
    CONFIG_FILE,
    THRESHOLDS_FILE,
    WEIGHTS_FILE,
    BundleMetrics,
    ChosenThresholds,
    ThresholdTable,
    read_report,
    read_thresholds,
    write_dataset,
    write_metrics,
    write_thresholds,
)
from fashion_core.data import DatasetSpec
from fashion_core.evaluation.config_thresholds import chosen_config_thresholds, write_config_thresholds

logger = logging.getLogger(__name__)

BEST_DIR = "best"


def write_best(
    table: pd.DataFrame, results: dict[str, Any], out_dir: Path, metric: str, mode: str, dataset: DatasetSpec
) -> Path | None:
    """Write ``out_dir/best/`` for the first row of ``table``; None (and nothing written) without a winner.

    Args:
        table: the ranked results (:func:`search.report.results.results_table`).
        results: Tune ``Result`` of every trial, by its ``path`` (the table's ``path`` column).
        metric / mode: the ranking metric.
        dataset: the dataset the trials were evaluated on.
    """
    if table.empty or pd.isna(table.loc[0, metric]):
        return None
    row = table.loc[0]
    result = results[str(row["path"])]
    kept = [(c, m) for c, m in (result.best_checkpoints or []) if m.get(metric) is not None]
    if not kept:
        logger.warning("the winning trial %s kept no checkpoint; no best/ folder", row["trial_id"])
        return None
    checkpoint, report = _pick(kept, metric, mode)
    best = out_dir / BEST_DIR
    staging = Path(tempfile.mkdtemp(prefix=".best-", dir=out_dir))
    try:
        with checkpoint.as_directory() as folder:
            shutil.copyfile(Path(folder) / WEIGHTS_FILE, staging / WEIGHTS_FILE)
            sweep = read_thresholds(Path(folder)) if (Path(folder) / THRESHOLDS_FILE).is_file() else None
            config = _read_config(Path(folder) / CONFIG_FILE)
            report_file = read_report(Path(folder))
        if sweep is not None:
            sweep = apply_thresholds(config, sweep, metric)
            write_thresholds(staging, sweep)
        config["MODEL"]["WEIGHTS"] = WEIGHTS_FILE
        config["OUTPUT_DIR"] = "output/train"
        (staging / CONFIG_FILE).write_text(
            "# The winner of the search, with its winning thresholds; MODEL.WEIGHTS is read beside this file.\n"
            + yaml.dump(config, Dumper=_PlainDumper, sort_keys=True)
        )
        threads = report_file.torch_threads if report_file is not None else None
        write_metrics(staging, _metrics(table, row, report, metric, mode, threads))
        write_dataset(staging, dataset)
        if best.exists():
            shutil.rmtree(best)
        staging.rename(best)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return best


def apply_thresholds(config: dict[str, Any], sweep: ThresholdTable, metric: str) -> ThresholdTable:
    """Write the winning thresholds of ``sweep`` (a report's ``thresholds.json``) into ``config`` (the trial's
    effective config as loaded); returns the table with its ``chosen`` cell. Ranked by the per-class metric, the
    per-class row's score threshold wins, else the best cell's (:meth:`ThresholdTable.choose`)."""
    chosen: ChosenThresholds = sweep.choose(per_class=metric.endswith("per_class_AP_iou_f1"))
    write_config_thresholds(config, chosen_config_thresholds(chosen, sweep.class_ids))
    return sweep.with_chosen(chosen)


class _PlainDumper(yaml.SafeDumper):
    """safe_dump without anchors and aliases (detectron2's config shares some lists): a file people read."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _pick(kept: list[tuple[Any, dict[str, Any]]], metric: str, mode: str) -> tuple[Any, dict[str, Any]]:
    """The kept checkpoint with the best metric; the earliest report on ties (as the table's best report)."""
    sign = -1.0 if mode == "max" else 1.0
    return min(kept, key=lambda cm: (sign * float(cm[1][metric]), cm[1].get("training_iteration", 0)))


def _read_config(path: Path) -> dict[str, Any]:
    """The trial's effective config as a plain mapping (detectron2 dumps it with yaml.safe_dump)."""
    if not path.is_file():
        raise FileNotFoundError(f"the winning checkpoint has no config: {path}")
    loaded = yaml.safe_load(path.read_text())
    if not isinstance(loaded, dict) or "MODEL" not in loaded:
        raise ValueError(f"{path}: not a detectron2 config")
    return loaded


def _metrics(table: pd.DataFrame, row: pd.Series, report: dict[str, Any], metric: str, mode: str,
             threads: int | None) -> BundleMetrics:
    """metrics.json: the winner's identity, its ranking value, its seeds, and every number of its report."""
    import json

    same = table[(table["config"] == row["config"]) & table["in_mean"]]

    def plain(value: Any) -> Any:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return None
        return value.item() if hasattr(value, "item") else value

    return BundleMetrics(
        metric=metric,
        mode=mode,
        value=plain(float(report[metric])),
        trial_id=str(row["trial_id"]),
        stage=str(row["stage"]),
        report=plain(report.get("training_iteration")),
        iteration=plain(report.get("iteration")),
        seed=plain(row["seed"]),
        config=json.loads(str(row["config"])),
        seeds=tuple(plain(s) for s in same["seed"]),
        values_over_seeds=tuple(plain(v) for v in same[metric]),
        mean=plain(row["mean"]),
        std=plain(row["std"]),
        # The report's numbers (Tune's flags such as ``done`` are not metrics; NaN is written as null).
        report_metrics={k: v.item() if hasattr(v, "item") else v for k, v in report.items()
                        if isinstance(v, int | float) and not isinstance(v, bool)},
        torch_threads=threads,
    )
