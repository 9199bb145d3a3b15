"""Reading the project's YAML files (spaces, cluster.yaml): safe loader only, errors naming the file."""

from __future__ import annotations

from fashion_core.safe_yaml import read_yaml

__all__ = ["read_yaml"]
