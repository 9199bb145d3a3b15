"""What a load kept and what it skipped: the ``on_error`` policy and the summary it leaves behind."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from fashion_core.data._errors import DataError

OnError = Literal["raise", "skip"]
ON_ERROR_CHOICES: tuple[str, ...] = ("raise", "skip")
MAX_EXAMPLES = 20

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadReport:
    """Summary of one load: rows are CSV data rows (Kaggle) or annotations (Fashionpedia JSON).

    ``skipped_by_field`` counts skipped rows by the field named in their error; ``examples`` holds the
    first few error messages so a skip-mode load still says what was wrong.
    """

    source: str
    rows_total: int
    rows_loaded: int
    rows_skipped: int
    images_loaded: int
    images_skipped: int
    skipped_by_field: dict[str, int] = field(default_factory=dict)
    examples: tuple[str, ...] = ()
    from_cache: bool = False

    def summary(self) -> str:
        text = f"{self.source}: loaded {self.rows_loaded} of {self.rows_total} rows"
        text += f" on {self.images_loaded} images"
        if self.rows_skipped or self.images_skipped:
            fields = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped_by_field.items()))
            text += f"; skipped {self.rows_skipped} rows and {self.images_skipped} images ({fields})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_total": self.rows_total,
            "rows_loaded": self.rows_loaded,
            "rows_skipped": self.rows_skipped,
            "images_loaded": self.images_loaded,
            "images_skipped": self.images_skipped,
            "skipped_by_field": dict(self.skipped_by_field),
            "examples": list(self.examples),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], *, from_cache: bool = False) -> LoadReport:
        return cls(
            source=str(doc["source"]),
            rows_total=int(doc["rows_total"]),
            rows_loaded=int(doc["rows_loaded"]),
            rows_skipped=int(doc["rows_skipped"]),
            images_loaded=int(doc["images_loaded"]),
            images_skipped=int(doc["images_skipped"]),
            skipped_by_field={str(k): int(v) for k, v in doc["skipped_by_field"].items()},
            examples=tuple(str(e) for e in doc["examples"]),
            from_cache=from_cache,
        )


class ProblemLog:
    """Applies ``on_error``: raise the first DataError, or count it (by field) and keep going."""

    def __init__(self, on_error: str) -> None:
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
        self.on_error = on_error
        self.rows_skipped = 0
        self.by_field: Counter[str] = Counter()
        self.examples: list[str] = []

    def report(self, error: DataError, rows: int = 1) -> None:
        """Raise ``error`` (on_error="raise") or record that ``rows`` rows were skipped because of it."""
        if self.on_error == "raise":
            raise error
        self.rows_skipped += rows
        self.by_field[error.field] += rows
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(str(error))

    def count_skipped(self, field_name: str, rows: int) -> None:
        """Record rows skipped as a consequence of an error already reported (e.g. their image was bad)."""
        self.rows_skipped += rows
        self.by_field[field_name] += rows

    def finish(
        self, source: str, rows_total: int, rows_loaded: int, images_loaded: int, images_skipped: int
    ) -> LoadReport:
        """The final report; logs a warning with the summary when anything was skipped."""
        report = LoadReport(
            source=source,
            rows_total=rows_total,
            rows_loaded=rows_loaded,
            rows_skipped=self.rows_skipped,
            images_loaded=images_loaded,
            images_skipped=images_skipped,
            skipped_by_field=dict(self.by_field),
            examples=tuple(self.examples),
        )
        if report.rows_skipped or report.images_skipped:
            logger.warning("%s; first problem: %s", report.summary(), report.examples[0] if report.examples else "")
        return report
