"""The Cython CSV parsers are built by the set-up, current with their source, and missing ones say how to build."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from fashion_core.data import compiled


def test_built_module_is_current_with_its_source() -> None:
    module = compiled.kernels()
    source = Path(compiled.__file__).with_name("_kernels.pyx")
    assert Path(str(module.__file__)).stat().st_mtime >= source.stat().st_mtime, "run `bash setup.sh` to rebuild"


def test_missing_build_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}")

    compiled.kernels.cache_clear()
    monkeypatch.setattr(importlib, "import_module", missing)
    try:
        with pytest.raises(ImportError, match="bash setup.sh"):
            compiled.kernels()
    finally:
        compiled.kernels.cache_clear()
