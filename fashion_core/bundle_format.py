"""The files of a model folder, named, written and read in one place, without torch or detectron2.

Two kinds of folder share these files:

* a report's checkpoint, written at every evaluation (:mod:`fashion_core.engine.hooks`) and kept by Tune:
  ``model.pth``, ``config.yaml`` (the run's effective config), ``report.json`` (iteration, torch threads) and,
  with a post-hoc threshold search, ``thresholds.json`` (:class:`ThresholdTable`);
* a search's winner ``best/`` (``search/report/bundle.py``): ``model.pth``, ``config.yaml`` with the winning
  thresholds written in, ``thresholds.json`` with the ``chosen`` cell (:class:`ChosenThresholds`),
  ``metrics.json`` (what the winner scored: :class:`BundleMetrics`) and ``dataset.json`` (what it was ranked
  on). ``fashion_core.predict --model`` and ``fashion_core.train --eval-only`` read it.

Every reader treats its file as untrusted input: a file that is not what it should be is a
:class:`BundleFormatError`, one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashion_core.data import DatasetSpec

__all__ = [
    "CONFIG_FILE",
    "DATASET_FILE",
    "METRICS_FILE",
    "REPORT_FILE",
    "THRESHOLDS_FILE",
    "WEIGHTS_FILE",
    "BundleFormatError",
    "BundleMetrics",
    "CheckpointReport",
    "ChosenThresholds",
    "ThresholdTable",
    "read_dataset",
    "read_metrics",
    "read_report",
    "read_thresholds",
    "recorded_threads",
    "write_dataset",
    "write_metrics",
    "write_report",
    "write_thresholds",
]

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.pth"
CONFIG_FILE = "config.yaml"
# How a report's numbers were computed. On the CPU, float sums (and so, at the 1e-4 level, AP) depend on torch's
# intra-op thread count: a Tune trial runs with as many threads as CPUs it was given, a command line with all of
# them. Re-evaluating with the same count gives the same numbers.
REPORT_FILE = "report.json"
THRESHOLDS_FILE = "thresholds.json"
METRICS_FILE = "metrics.json"
DATASET_FILE = "dataset.json"

# A JSON file read here is small; a larger one is not one of these files (and would take memory to parse).
MAX_BYTES = 16 * 1024 * 1024


class BundleFormatError(ValueError):
    """A bundle or checkpoint file that is not what its name promises; the message is one line."""


def _load(path: Path) -> Any:
    """The JSON document of ``path``; a missing, oversized or non-JSON file is a :class:`BundleFormatError`."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise BundleFormatError(f"{path}: larger than {MAX_BYTES >> 20} MiB, not a {path.name}")
        return json.loads(path.read_text())
    except OSError as exc:
        raise BundleFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BundleFormatError(f"{path}: not JSON ({why})") from None


class _Fields:
    """Typed access to one JSON object of ``source``; a wrong or missing field fails naming its key."""

    def __init__(self, raw: Any, source: str, where: str = "") -> None:
        if not isinstance(raw, dict):
            raise BundleFormatError(f"{source}: {where or 'the file'}: a JSON object is expected, got "
                                    f"{type(raw).__name__}")
        self.raw, self.source, self.where = raw, source, where

    def fail(self, key: str, expected: str) -> BundleFormatError:
        got = self.raw.get(key, "nothing")
        shown = repr(got) if len(repr(got)) < 60 else type(got).__name__
        return BundleFormatError(f"{self.source}: {self.where}{key}: {expected} is expected, got {shown}")

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def text(self, key: str) -> str:
        value = self.raw.get(key)
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def number(self, key: str) -> float:
        value = self.raw.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(key, "a number")
        return float(value)

    def optional_number(self, key: str) -> float | None:
        return None if self.raw.get(key) is None else self.number(key)

    def optional_integer(self, key: str) -> int | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, "an integer")
        return value

    def numbers(self, key: str, *, length: int | None = None, optional: bool = False) -> tuple[float, ...]:
        value = self.raw.get(key)
        if value is None and optional:
            return ()
        if not isinstance(value, list) or not all(_is_number(v) for v in value) or (
                length is not None and len(value) != length):
            raise self.fail(key, f"a list of {length if length is not None else 'some'} numbers")
        return tuple(float(v) for v in value)

    def threshold_map(self, key: str) -> dict[int, float]:
        """``{"<category id>": threshold}`` -> ``{category id: threshold}``."""
        value = self.raw.get(key, {})
        if not isinstance(value, dict) or not all(_is_int_text(k) and _is_number(v) for k, v in value.items()):
            raise self.fail(key, 'an object {"<category id>": <threshold>}')
        return {int(k): float(v) for k, v in value.items()}

    def child(self, key: str) -> _Fields:
        return _Fields(self.raw.get(key), self.source, f"{self.where}{key}.")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int_text(text: Any) -> bool:
    return isinstance(text, str) and text.lstrip("-").isdigit()


def _by_id(thresholds: Mapping[int, float]) -> dict[str, float]:
    return {str(k): float(v) for k, v in thresholds.items()}


# --- thresholds.json ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChosenThresholds:
    """The thresholds a bundle's config applies (``thresholds.json``'s ``chosen``).

    Attributes:
        score_threshold / attribute_threshold: a cell of the table.
        per_class_thresholds: the attribute threshold of every class (raw category id -> threshold, in the
            table's ``class_ids`` order): the category's best at this score threshold, or the cell's.
        expected: the table's metric with exactly these thresholds, on the validation split (the per-class
            table's value at this score threshold).
    """

    score_threshold: float
    attribute_threshold: float
    per_class_thresholds: dict[int, float]
    expected: float


@dataclass(frozen=True)
class ThresholdTable:
    """``thresholds.json``: one evaluation's post-hoc class-score x attribute threshold search.

    Attributes:
        metric: the tabulated summary key (``AP_iou_f1``) of the ``iou_type`` evaluation ("segm" or "bbox").
        score_thresholds: (S,) class-score thresholds (detections scoring above are kept).
        attribute_thresholds: (U,) attribute thresholds (an attribute is predicted above it).
        table: (S, U) the metric for every cell.
        best: (score threshold, attribute threshold, metric) of the best cell, the first one on ties.
        per_class_table: (S,) the metric when every category takes its own best attribute threshold.
        per_class_score_threshold / per_class_value: the best row of ``per_class_table``.
        per_class_thresholds: {category id: attribute threshold} at ``per_class_score_threshold``, for the
            categories whose attribute F1 is checked and that have ground truth.
        per_class_rows: (S,) such maps, one per score threshold (may be empty: none recorded).
        class_ids: the raw category id of each contiguous class index (the config's ``CLASS_SCORE_THRESH``
            is indexed by class index).
        iteration: the training iteration of the report (None outside a run).
        chosen: in ``best/``: what the config applies.
    """

    metric: str
    score_thresholds: tuple[float, ...]
    attribute_thresholds: tuple[float, ...]
    table: tuple[tuple[float, ...], ...]
    best: tuple[float, float, float]
    per_class_table: tuple[float, ...]
    per_class_score_threshold: float
    per_class_value: float
    per_class_thresholds: dict[int, float] = field(default_factory=dict)
    per_class_rows: tuple[dict[int, float], ...] = ()
    class_ids: tuple[int, ...] = ()
    iou_type: str = "segm"
    iteration: int | None = None
    chosen: ChosenThresholds | None = None

    def choose(self, per_class: bool) -> ChosenThresholds:
        """The thresholds a bundle applies: for a ranking by the per-class metric (``per_class``) the per-class
        row's score threshold, else the best cell's; the best cell's attribute threshold, and each category's
        own best attribute threshold at that score threshold (the cell's where the sweep could not judge it)."""
        score = self.per_class_score_threshold if per_class else self.best[0]
        attribute = self.best[1]
        row = self.score_thresholds.index(score)
        by_category = self.per_class_rows[row] if self.per_class_rows else {}
        per_category = {c: by_category.get(c, attribute) for c in self.class_ids}
        return ChosenThresholds(score, attribute, per_category, self.per_class_table[row])

    def with_chosen(self, chosen: ChosenThresholds) -> ThresholdTable:
        return dataclasses.replace(self, chosen=chosen)

    def to_json(self) -> dict[str, Any]:
        """The JSON document (the layout every earlier ``thresholds.json`` has)."""
        score, attribute, value = self.best
        out: dict[str, Any] = {} if self.iteration is None else {"iteration": self.iteration}
        out |= {
            "class_ids": list(self.class_ids),
            "iou_type": self.iou_type,
            "metric": self.metric,
            "score_thresholds": list(self.score_thresholds),
            "attribute_thresholds": list(self.attribute_thresholds),
            "table": [list(row) for row in self.table],
            "best": {"score_threshold": score, "attribute_threshold": attribute, self.metric: value},
            "per_class": {
                "table": list(self.per_class_table),
                "score_threshold": self.per_class_score_threshold,
                self.metric: self.per_class_value,
                "thresholds": _by_id(self.per_class_thresholds),
                "thresholds_per_score_row": [_by_id(row) for row in self.per_class_rows],
            },
        }
        if self.chosen is not None:
            out["chosen"] = {
                "score_threshold": self.chosen.score_threshold,
                "attribute_threshold": self.chosen.attribute_threshold,
                "per_class_thresholds": _by_id(self.chosen.per_class_thresholds),
                # Validation value of what the config applies (per-class thresholds at this score threshold).
                "expected_" + self.metric: self.chosen.expected,
            }
        return out

    @classmethod
    def from_json(cls, raw: Any, source: str) -> ThresholdTable:
        """The table of a ``thresholds.json`` document; every field checked (:class:`BundleFormatError`)."""
        f = _Fields(raw, source)
        metric = f.text("metric")
        scores = f.numbers("score_thresholds")
        attributes = f.numbers("attribute_thresholds")
        if not scores or not attributes:
            raise f.fail("score_thresholds" if not scores else "attribute_thresholds", "a non-empty list")
        rows = raw.get("table")
        if not isinstance(rows, list) or len(rows) != len(scores):
            raise f.fail("table", f"{len(scores)} rows (one per score threshold)")
        table = tuple(_Fields({"row": r}, source, f"table[{i}].").numbers("row", length=len(attributes))
                      for i, r in enumerate(rows))
        best = f.child("best")
        best_cell = (best.number("score_threshold"), best.number("attribute_threshold"), best.number(metric))
        if best_cell[0] not in scores or best_cell[1] not in attributes:
            raise best.fail("score_threshold", "a cell of the grid")
        per = f.child("per_class")
        per_score = per.number("score_threshold")
        if per_score not in scores:
            raise per.fail("score_threshold", f"one of {list(scores)}")
        per_rows = per.raw.get("thresholds_per_score_row") or []
        if not isinstance(per_rows, list) or len(per_rows) not in (0, len(scores)):
            raise per.fail("thresholds_per_score_row", f"a list of {len(scores)} objects")
        class_ids = raw.get("class_ids", [])
        if not isinstance(class_ids, list) or not all(isinstance(c, int) and not isinstance(c, bool)
                                                      for c in class_ids):
            raise f.fail("class_ids", "a list of category ids")
        chosen = None
        if f.has("chosen"):
            c = f.child("chosen")
            chosen = ChosenThresholds(c.number("score_threshold"), c.number("attribute_threshold"),
                                      c.threshold_map("per_class_thresholds"), c.number("expected_" + metric))
        return cls(
            metric=metric,
            score_thresholds=scores,
            attribute_thresholds=attributes,
            table=table,
            best=best_cell,
            per_class_table=per.numbers("table", length=len(scores)),
            per_class_score_threshold=per_score,
            per_class_value=per.number(metric),
            per_class_thresholds=per.threshold_map("thresholds"),
            per_class_rows=tuple(_Fields({"row": r}, source, f"per_class.thresholds_per_score_row[{i}].")
                                 .threshold_map("row") for i, r in enumerate(per_rows)),
            class_ids=tuple(class_ids),
            iou_type=f.text("iou_type") if f.has("iou_type") else "segm",
            iteration=f.optional_integer("iteration"),
            chosen=chosen,
        )


def _write_json(folder: Path, name: str, obj: Any) -> Path:
    path = Path(folder) / name
    path.write_text(json.dumps(obj, indent=1))
    return path


def _in_folder(path: Path, name: str) -> Path:
    """``path`` itself, or the file ``name`` in it when it is a folder."""
    path = Path(path)
    return path / name if path.is_dir() else path


def write_thresholds(folder: Path, table: ThresholdTable) -> Path:
    return _write_json(folder, THRESHOLDS_FILE, table.to_json())


def read_thresholds(path: Path) -> ThresholdTable:
    """``path`` (a ``thresholds.json``, or a folder holding one) as a :class:`ThresholdTable`."""
    path = _in_folder(path, THRESHOLDS_FILE)
    return ThresholdTable.from_json(_load(path), str(path))


# --- metrics.json (best/) ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleMetrics:
    """``best/metrics.json``: what the winner of a search scored.

    Attributes:
        metric / mode: the ranking metric; ``value``: the winning report's (None if it was not finite).
        trial_id / stage: the winning run (``search`` or ``confirm``); ``report``: its report number,
            ``iteration``: the training iteration of that report; ``seed``: its seed.
        config: the sampled parameters (name -> value).
        seeds / values_over_seeds: every full-budget run of that config and its value.
        mean / std: over those runs (None with one run, or none).
        report_metrics: every number of the winning report.
        torch_threads: the torch thread count the report was computed with.
    """

    metric: str
    mode: str
    value: float | None
    trial_id: str
    stage: str
    report: int | None
    iteration: float | None
    seed: int | None
    config: dict[str, Any]
    seeds: tuple[int, ...]
    values_over_seeds: tuple[float | None, ...]
    mean: float | None
    std: float | None
    report_metrics: dict[str, float]
    torch_threads: int | None = None

    def to_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:  # NaN is not JSON
            return None if isinstance(value, float) and not math.isfinite(value) else value

        out = dataclasses.asdict(self)
        out["seeds"], out["values_over_seeds"] = list(self.seeds), [plain(v) for v in self.values_over_seeds]
        out["report_metrics"] = {k: plain(v) for k, v in self.report_metrics.items()}
        return {k: plain(v) for k, v in out.items()}

    @classmethod
    def from_json(cls, raw: Any, source: str) -> BundleMetrics:
        f = _Fields(raw, source)
        mode = f.text("mode")
        if mode not in ("max", "min"):
            raise f.fail("mode", "'max' or 'min'")
        config = raw.get("config")
        if not isinstance(config, dict):
            raise f.fail("config", "an object of parameter values")
        seeds = raw.get("seeds", [])
        if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise f.fail("seeds", "a list of integers")
        values = raw.get("values_over_seeds", [])
        if not isinstance(values, list) or not all(v is None or _is_number(v) for v in values):
            raise f.fail("values_over_seeds", "a list of numbers")
        report_metrics = raw.get("report_metrics", {})
        if not isinstance(report_metrics, dict) or not all(
                isinstance(k, str) and (v is None or _is_number(v)) for k, v in report_metrics.items()):
            raise f.fail("report_metrics", "an object of numbers")
        threads = f.optional_integer("torch_threads")
        if threads is not None and threads < 1:
            raise f.fail("torch_threads", "a positive integer")
        return cls(
            metric=f.text("metric"),
            mode=mode,
            value=f.optional_number("value"),
            trial_id=f.text("trial_id"),
            stage=f.text("stage"),
            report=f.optional_integer("report"),
            iteration=f.optional_number("iteration"),
            seed=f.optional_integer("seed"),
            config=config,
            seeds=tuple(seeds),
            values_over_seeds=tuple(None if v is None else float(v) for v in values),
            mean=f.optional_number("mean"),
            std=f.optional_number("std"),
            report_metrics={k: float(v) for k, v in report_metrics.items() if v is not None},
            torch_threads=threads,
        )


def write_metrics(folder: Path, metrics: BundleMetrics) -> Path:
    return _write_json(folder, METRICS_FILE, metrics.to_json())


def read_metrics(path: Path) -> BundleMetrics:
    """``path`` (a ``best/metrics.json``, or the folder) as :class:`BundleMetrics`."""
    path = _in_folder(path, METRICS_FILE)
    return BundleMetrics.from_json(_load(path), str(path))


# --- report.json and the recorded thread count -------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointReport:
    """``report.json`` beside a report's checkpoint: the report's training ``iteration`` and the torch thread count
    its numbers were computed with (None where an older file lacks one)."""

    iteration: int | None
    torch_threads: int | None


def write_report(folder: Path, report: CheckpointReport) -> Path:
    path = Path(folder) / REPORT_FILE
    path.write_text(json.dumps(dataclasses.asdict(report)))
    return path


def read_report(folder: Path) -> CheckpointReport | None:
    """The ``report.json`` of a checkpoint folder, None when it has none."""
    path = Path(folder) / REPORT_FILE
    if not path.is_file():
        return None
    f = _Fields(_load(path), str(path))
    threads = f.optional_integer("torch_threads")
    if threads is not None and threads < 1:
        raise f.fail("torch_threads", "a positive integer")
    return CheckpointReport(f.optional_integer("iteration"), threads)


def recorded_threads(folder: str | Path) -> int | None:
    """The torch intra-op thread count recorded beside a model's weights (``metrics.json`` of a ``best/``,
    ``report.json`` of a checkpoint), or None.

    On the CPU, float sums (and so, at the 1e-4 level, AP) depend on it: re-evaluating or predicting with the
    same count gives the same numbers. A missing or unreadable record is None (logged), not an error: the count
    only makes a number repeat to the last digit.
    """
    for name in (METRICS_FILE, REPORT_FILE):
        path = Path(folder).expanduser() / name
        if not path.is_file():
            continue
        try:
            threads = _Fields(_load(path), str(path)).optional_integer("torch_threads")
        except BundleFormatError as exc:
            logger.warning("thread count not read: %s", exc)
            continue
        if threads is not None and threads > 0:
            logger.info("%d torch thread(s), as for the numbers recorded in %s", threads, path)
            return threads
    return None


# --- dataset.json ---------------------------------------------------------------------------------------------


def write_dataset(folder: Path, dataset: DatasetSpec) -> Path:
    return _write_json(folder, DATASET_FILE, dataclasses.asdict(dataset))


def read_dataset(folder: Path) -> DatasetSpec | None:
    """The :class:`DatasetSpec` saved in ``folder`` (``dataset.json``), None when there is none."""
    path = Path(folder).expanduser() / DATASET_FILE
    if not path.is_file():
        return None
    fields = _Fields(_load(path), str(path))
    try:
        return DatasetSpec(**fields.raw)
    except (TypeError, ValueError) as exc:
        raise BundleFormatError(f"{path}: not a dataset description ({exc})") from None
