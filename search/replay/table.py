"""Recorded learning curves to replay searches against: a table file, or a finished experiment folder.

A table (``bench/record_curves.py`` writes one; any file in its format is read): a CSV, gzip-compressed or not,
one row per (config, seed, report) with the columns ``config_id, seed, report, iterations, seconds``, one
``param.<name>`` per searched parameter (empty where inactive), ``diverged`` (optional: 1 on a run's last row
when it diverged there) and one column per reported metric. ``#`` lines before the header describe it;
``# params: {...}`` (JSON: a space file's ``params`` section) says what space the configs come from.

An experiment folder (``search.run``'s): each trial's ``result.json`` (Tune's, one line per report) is a run,
of the config its parameters make and the seed it trained with; trials that ASHA stopped are runs that end
early, which :class:`~search.replay.simulator.Replay` continues from the nearest longer run when asked.
"""

from __future__ import annotations

import gzip
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.space import Param, SpaceError, parse_space

__all__ = ["KEY_COLUMNS", "CurveTable", "Report", "Run", "TableError", "load_curves", "table_params"]

KEY_COLUMNS = ("config_id", "seed", "report", "iterations", "seconds")


class TableError(ValueError):
    """A table or folder cannot be replayed; the message names the file, row or column."""


@dataclass(frozen=True)
class Report:
    """One report of a run: its index (1-based), training iterations and seconds since the run began."""

    report: int
    iterations: int
    seconds: float
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class Run:
    """One config trained with one seed: its reports in order; ``diverged``: its last report is the diverged one."""

    config_id: int
    seed: int
    params: Mapping[str, Any]
    reports: tuple[Report, ...]
    diverged: bool = False


@dataclass(frozen=True)
class CurveTable:
    """Every recorded run, grouped by config.

    Attributes:
        runs: all runs, ordered by (config_id, seed).
        params: the space the configs were drawn from (from ``# params`` or the caller's space).
        source: the file or folder, for messages.
        header: the table's ``#`` lines (key -> value).
    """

    runs: tuple[Run, ...]
    params: tuple[Param, ...]
    source: str
    header: Mapping[str, str] = field(default_factory=dict)

    def configs(self) -> dict[int, list[Run]]:
        """config_id -> its runs (one per seed), in table order."""
        out: dict[int, list[Run]] = {}
        for run in self.runs:
            out.setdefault(run.config_id, []).append(run)
        return out

    def metrics(self) -> set[str]:
        return {m for run in self.runs for rep in run.reports for m in rep.metrics}


def table_params(header: Mapping[str, str], source: str) -> tuple[Param, ...] | None:
    """The ``# params`` section of a table's header as validated :class:`~search.space.Param`s (None if absent)."""
    text = header.get("params")
    if text is None:
        return None
    try:
        raw = json.loads(text)
        return parse_space({"params": raw}, source=f"{source} (# params)").params
    except json.JSONDecodeError as exc:
        raise TableError(f"{source}: '# params' is not JSON ({exc})") from None
    except SpaceError as exc:
        raise TableError(str(exc)) from None


def load_curves(path: str | Path, params: Sequence[Param] | None = None, *, seed: int = 0) -> CurveTable:
    """The runs of a table file or an experiment folder (module docstring).

    Args:
        params: the searched space; a table's own ``# params`` when None (a folder needs them).
        seed: the seed of a folder's trials whose config names none (the experiment's ``seed``).

    Raises:
        TableError: unreadable or malformed input, with one line naming the file and what is wrong.
    """
    path = Path(path)
    if path.is_dir():
        if params is None:
            raise TableError(f"{path}: an experiment folder needs the space it searched (--space)")
        return _load_folder(path, tuple(params), seed)
    if not path.is_file():
        raise TableError(f"{path}: no such table file or experiment folder")
    return _load_table(path, params)


def _load_table(path: Path, params: Sequence[Param] | None) -> CurveTable:
    import pandas as pd

    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise TableError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None
    header: dict[str, str] = {}
    lines = text.splitlines(keepends=True)
    body = 0
    while body < len(lines) and lines[body].startswith("#"):
        key, _, value = lines[body][1:].strip().partition(":")
        header[key.strip()] = value.strip()
        body += 1
    try:
        frame = pd.read_csv(io.StringIO("".join(lines[body:])), keep_default_na=True, dtype={"diverged": "Int64"})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise TableError(f"{path}: not a CSV table ({type(exc).__name__}: {exc})") from None
    missing = [c for c in KEY_COLUMNS if c not in frame.columns]
    if missing:
        raise TableError(f"{path}: missing column {missing[0]!r} (a table has {', '.join(KEY_COLUMNS)}, "
                         "param.<name> per parameter and one column per metric)")
    space = tuple(params) if params is not None else table_params(header, str(path))
    if space is None:
        raise TableError(f"{path}: no '# params' line saying what space the configs come from; pass --space")
    names = [p.name for p in space]
    absent = [n for n in names if f"param.{n}" not in frame.columns]
    if absent:
        raise TableError(f"{path}: no column 'param.{absent[0]}' for the space's parameter {absent[0]!r}")
    metric_columns = [c for c in frame.columns if c not in KEY_COLUMNS and c != "diverged"
                      and not c.startswith("param.") and pd.api.types.is_numeric_dtype(frame[c])]
    runs = []
    for (config_id, seed), rows in frame.groupby(["config_id", "seed"], sort=True):
        rows = rows.sort_values("report")
        first = rows.iloc[0]
        where = f"{path}: config {config_id} seed {seed}"
        values = {p.name: _typed(p, first[f"param.{p.name}"], where) for p in space}
        sampled = {n: v for n, v in values.items() if v is not None}
        if list(rows["report"]) != list(range(1, len(rows) + 1)):
            raise TableError(f"{where}: reports {list(rows['report'])}, expected 1..{len(rows)} in order")
        diverged = "diverged" in rows and bool(rows["diverged"].fillna(0).iloc[-1])
        reports = tuple(
            Report(int(r["report"]), int(r["iterations"]), float(r["seconds"]),
                   {m: float(r[m]) for m in metric_columns if not _missing(r[m])})
            for _, r in rows.iterrows()
        )
        runs.append(Run(int(config_id), int(seed), sampled, reports, diverged))
    if not runs:
        raise TableError(f"{path}: the table has no rows")
    return CurveTable(tuple(runs), space, str(path), header)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _typed(param: Param, cell: Any, where: str) -> Any:
    """A table cell as the parameter's value (choices by their YAML form); None where inactive (empty)."""
    if _missing(cell) or cell == "":
        return None
    if param.distribution == "choice":
        for value in param.values:
            if value == cell or str(value) == str(cell) or _same_number(value, cell):
                return value
        raise TableError(f"{where}: param.{param.name} = {cell!r} is not among its values {list(param.values)}")
    try:
        number = float(cell)
    except (TypeError, ValueError):
        raise TableError(f"{where}: param.{param.name} = {cell!r} is not a number") from None
    return int(number) if param.distribution == "int" else number


def _same_number(value: Any, cell: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return float(cell) == float(value)
    except (TypeError, ValueError):
        return False


def _load_folder(folder: Path, params: tuple[Param, ...], seed: int) -> CurveTable:
    """Every trial of a search (and its confirmation stage) with at least one report, as runs."""
    files = sorted(folder.glob("*/result.json")) + sorted(folder.glob("confirm/*/result.json"))
    names = {p.name for p in params}
    by_config: dict[str, int] = {}
    runs = []
    for file in files:
        lines = [line for line in file.read_text().splitlines() if line.strip()]
        results = []
        for number, line in enumerate(lines, start=1):
            try:
                results.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise TableError(f"{file}: line {number} is not JSON ({exc})") from None
        results = [r for r in results if "training_iteration" in r]
        if not results:
            continue
        config = results[0].get("config") or {}
        sampled = {k: v for k, v in config.items() if k in names}
        key = json.dumps(sampled, sort_keys=True, default=str)
        config_id = by_config.setdefault(key, len(by_config))
        reports, diverged = [], False
        for r in sorted(results, key=lambda r: r["training_iteration"]):
            diverged = bool(r.get("diverged"))
            metrics = {k: float(v) for k, v in r.items() if "/" in k and isinstance(v, int | float)
                       and not isinstance(v, bool) and math.isfinite(v)}
            reports.append(Report(int(r["training_iteration"]), int(r.get("iteration") or 0),
                                  float(r.get("time_total_s") or 0.0), {} if diverged else metrics))
        runs.append(Run(config_id, int(config.get("seed", seed)), sampled, tuple(reports), diverged))
    if not runs:
        raise TableError(f"{folder}: no trial with a report (no */result.json with results)")
    runs.sort(key=lambda r: (r.config_id, r.seed))
    return CurveTable(tuple(runs), params, str(folder), {"source": "experiment folder"})
