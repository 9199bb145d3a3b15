"""The one exception the data layer raises for bad input, always naming file, row and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class DataError(ValueError):
    """Bad input data: the message names the file, the row, the field and what was expected.

    ``where`` is a 1-based CSV data row (``"row 17 (ImageId 'abc')"``), a JSON annotation
    (``"annotation id 5 (index 3)"``) or a file-level place (``"header"``, ``"document"``).
    The message reads ``"{file} {where}, {field}: {problem}"``, e.g.
    ``train.csv row 17 (ImageId 'abc'), EncodedPixels: run 3 ends at pixel 1000001 beyond
    Height*Width=1000000``.
    """

    def __init__(self, file: str | Path, where: str, field: str, problem: str) -> None:
        self.file = str(file)
        self.where = where
        self.field = field
        self.problem = problem
        super().__init__(f"{self.file} {where}, {field}: {problem}")

    def __reduce__(self) -> tuple[type[DataError], tuple[str, str, str, str]]:
        # The default exception pickling would call DataError(message) and fail; Ray ships
        # exceptions between processes, so rebuild from the four parts instead.
        return (DataError, (self.file, self.where, self.field, self.problem))


def csv_row(row: int, image_id: str | None = None) -> str:
    """The ``where`` part for a 1-based CSV data row (the header is not counted)."""
    return f"row {row}" if image_id is None else f"row {row} (ImageId {image_id!r})"


def read_json_document(path: str | Path) -> Any:
    """A JSON document; a missing, unreadable, invalid or absurdly nested file is one DataError naming it."""
    try:
        with Path(path).open("rb") as f:
            return json.load(f)
    except RecursionError:  # json.load recurses per nesting level: a hostile file can exhaust the stack
        raise DataError(path, "document", "json", "nested too deep to read") from None
    except FileNotFoundError:
        raise DataError(path, "document", "file", "JSON file not found") from None
    except OSError as e:
        raise DataError(path, "document", "file", f"cannot read JSON: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(path, "document", "json", f"not valid JSON: {e}") from None
