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

Which thresholds: for ``thresholds/per_class_AP_iou_f1`` the per-class row's score threshold and its
per-class attribute thresholds; otherwise the best (score, attribute) cell, with the per-class attribute
thresholds chosen at that same score threshold (each category's best, at least as good on the
validation split). Categories the sweep could not judge (no ground truth, or attributes not checked)
keep the cell's attribute threshold.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fashion_core.data import DatasetSpec
from fashion_core.engine.hooks import CONFIG_FILE, REPORT_FILE, THRESHOLDS_FILE
from fashion_core.trainable import CHECKPOINT_FILE

logger = logging.getLogger(__name__)

BEST_DIR = "best"
METRICS_FILE = "metrics.json"


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
            shutil.copyfile(Path(folder) / CHECKPOINT_FILE, staging / CHECKPOINT_FILE)
            sweep_file = Path(folder) / THRESHOLDS_FILE
            sweep = json.loads(sweep_file.read_text()) if sweep_file.is_file() else None
            config = _read_config(Path(folder) / CONFIG_FILE)
            report_file = Path(folder) / REPORT_FILE
            threads = json.loads(report_file.read_text()).get("torch_threads") if report_file.is_file() else None
        chosen = apply_thresholds(config, sweep, metric) if sweep is not None else None
        config["MODEL"]["WEIGHTS"] = CHECKPOINT_FILE
        config["OUTPUT_DIR"] = "output/train"
        (staging / "config.yaml").write_text(
            "# The winner of the search, with its winning thresholds; MODEL.WEIGHTS is read beside this file.\n"
            + yaml.dump(config, Dumper=_PlainDumper, sort_keys=True)
        )
        if sweep is not None:
            (staging / THRESHOLDS_FILE).write_text(json.dumps({**sweep, "chosen": chosen}, indent=1))
        summary = {**_metrics(table, row, report, metric, mode), "torch_threads": threads}
        (staging / METRICS_FILE).write_text(json.dumps(summary, indent=1))
        (staging / "dataset.json").write_text(json.dumps(dataclasses.asdict(dataset), indent=1))
        if best.exists():
            shutil.rmtree(best)
        staging.rename(best)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return best


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


def apply_thresholds(config: dict[str, Any], sweep: dict[str, Any], metric: str) -> dict[str, Any]:
    """Write the winning thresholds of ``sweep`` (a report's thresholds.json) into ``config``; returns them."""
    per_class_metric = metric.endswith("per_class_AP_iou_f1")
    score_grid = [float(s) for s in sweep["score_thresholds"]]
    if per_class_metric:
        score = float(sweep["per_class"]["score_threshold"])
    else:
        score = float(sweep["best"]["score_threshold"])
    attribute = float(sweep["best"]["attribute_threshold"])
    rows = sweep["per_class"].get("thresholds_per_score_row") or []
    by_category = rows[score_grid.index(score)] if rows else {}
    class_ids = [int(c) for c in sweep["class_ids"]]
    per_class = [float(by_category.get(str(c), attribute)) for c in class_ids]
    config["MODEL"]["ROI_HEADS"]["SCORE_THRESH_TEST"] = score
    config["MODEL"]["ROI_ATTRIBUTE_HEAD"]["SCORE_THRESH"] = attribute
    config["MODEL"]["ROI_ATTRIBUTE_HEAD"]["CLASS_SCORE_THRESH"] = per_class
    i = score_grid.index(score)
    return {
        "score_threshold": score,
        "attribute_threshold": attribute,
        "per_class_thresholds": {str(c): t for c, t in zip(class_ids, per_class)},
        # Validation value of what the config applies (per-class thresholds at this score threshold).
        "expected_" + sweep["metric"]: float(sweep["per_class"]["table"][i]),
    }


def _metrics(table: pd.DataFrame, row: pd.Series, report: dict[str, Any], metric: str, mode: str) -> dict[str, Any]:
    """metrics.json: the winner's identity, its ranking value, its seeds, and every number of its report."""
    same = table[(table["config"] == row["config"]) & table["in_mean"]]

    def plain(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        return value.item() if hasattr(value, "item") else value

    return {
        "metric": metric,
        "mode": mode,
        "value": plain(float(report[metric])),
        "trial_id": str(row["trial_id"]),
        "stage": str(row["stage"]),
        "report": plain(report.get("training_iteration")),
        "iteration": plain(report.get("iteration")),
        "seed": plain(row["seed"]),
        "config": json.loads(str(row["config"])),
        "seeds": [plain(s) for s in same["seed"]],
        "values_over_seeds": [plain(v) for v in same[metric]],
        "mean": plain(row["mean"]),
        "std": plain(row["std"]),
        "report_metrics": {k: plain(v) for k, v in report.items() if isinstance(v, int | float)},
    }
