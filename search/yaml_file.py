"""Reading the project's YAML files (spaces, cluster.yaml): safe loader only, errors naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_yaml(path: str | Path, what: str, error: type[Exception]) -> Any:
    """The parsed content of ``path``; ``error(f"{path}: {what} not found")`` or ``not valid YAML``.

    ``yaml.safe_load`` only: a file can hold data, never construct Python objects.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
