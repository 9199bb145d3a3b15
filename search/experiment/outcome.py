"""What a finished ``tuner.fit()`` means for the user: the exit code, and the line that says why.

Tune returns normally both when every trial failed and after Ctrl-C, and its interruption hint names
``Tuner.restore(...)``, a Python API; the CLI user resumes with ``--resume``. :class:`InterruptionHint`
swaps that hint for the command line, and :func:`exit_status` turns the results table into an exit code.
"""

from __future__ import annotations

import logging
import math
import shlex
from collections.abc import Sequence
from types import TracebackType
from typing import Any

__all__ = ["EXIT_INTERRUPTED", "EXIT_NO_RESULT", "InterruptionHint", "exit_status"]

# 1: the search ran but no trial produced a result; 130: interrupted (the shell's code for SIGINT).
EXIT_NO_RESULT = 1
EXIT_INTERRUPTED = 130


class InterruptionHint(logging.Filter):
    """While active, drops Tune's "Resume experiment with: Tuner.restore(...)" and remembers it was seen."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False
        self._logger = logging.getLogger("ray.tune.tune")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "has been interrupted" in message or "Stop signal received" in message:
            self.interrupted = True
            return "Tuner.restore(" not in message
        return True

    def __enter__(self) -> InterruptionHint:
        self._logger.addFilter(self)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._logger.removeFilter(self)


def exit_status(table: Any, metric: str, interrupted: bool, resume_argv: Sequence[str]) -> tuple[int, str]:
    """(exit code, message) of a search whose results table is ``table`` (pandas, one row per trial).

    ``resume_argv`` is the command line that continues the experiment (printed after an interruption).
    The message is empty for a successful search.
    """
    statuses = table.get("status", [])
    if interrupted or any(s == "INTERRUPTED" for s in statuses):
        return EXIT_INTERRUPTED, f"search interrupted; continue it with: {shlex.join(resume_argv)}"
    values = [float(v) for v in table[metric]] if metric in table else []
    if not any(math.isfinite(v) for v in values):
        if table.empty:
            return EXIT_NO_RESULT, "no trial produced a result: no trial ran"
        errors = [str(e) for e in table.get("error", []) if isinstance(e, str) and e]
        why = f"; first reason: {errors[0]}" if errors else ""
        return EXIT_NO_RESULT, f"no trial produced a result ({len(table)} trials: " \
            f"{', '.join(f'{n} {s}' for s, n in table['status'].value_counts().items())}){why}"
    return 0, ""
