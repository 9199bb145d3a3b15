"""The Cython CSV parsers are built by the set-up, current with their source, and missing ones say how to build."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from fashion_core.data import _compiled as compiled


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


def test_kernels_check_shapes_and_bounds_before_their_unchecked_loops() -> None:
    k = compiled.kernels()
    text, z = np.zeros(4, np.uint8), np.zeros(3, np.int64)
    outputs = (np.zeros(100, np.uint8), np.zeros(3, np.uint8), np.zeros(3, np.int64), np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="must have B rows"):  # ends has 1 row, starts 3
        k.convert_rows(text, z, np.zeros(1, np.int64), np.ones(3, np.int64), np.ones(3, np.int64), *outputs)
    with pytest.raises(ValueError, match="bytes 0..9 of 4"):
        k.convert_rows(text, z, np.array([9, 0, 0]), np.ones(3, np.int64), np.ones(3, np.int64), *outputs)
    with pytest.raises(ValueError, match="bytes 0..5 of 4"):
        k.parse_uints(text, np.array([0, 5]), np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="B \\+ 1"):
        k.parse_id_lists(text, np.array([0, 1]), np.ones(3, np.uint8), np.zeros(9, np.int64), z, np.zeros(3, np.uint8))
