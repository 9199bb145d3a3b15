"""Access to the compiled parsers (``_kernels.pyx``), with a clear error where they were not built, and
the text rule they share with the Python code that words their errors."""

from __future__ import annotations

import functools
import importlib
import logging
from pathlib import Path
from types import ModuleType

logger = logging.getLogger(__name__)

# What the compiled parsers treat as whitespace (bytes 9-13 and 32); str.split() and str.strip() would
# also take U+00A0 and others, so Python-side checks use this to reach the same verdicts.
ASCII_SPACE = " \t\n\r\x0b\x0c"


@functools.cache
def kernels() -> ModuleType:
    """The ``fashion_core.data._kernels`` extension module (built by ``pip install`` / ``bash setup.sh``)."""
    try:
        module = importlib.import_module("fashion_core.data._kernels")
    except ImportError as e:
        raise ImportError(
            "fashion_core's compiled CSV parsers (fashion_core/data/_kernels.pyx) are not built; run "
            "`bash setup.sh`, or `pip install -e .` with Cython and a C compiler available"
        ) from e
    source = Path(__file__).with_name("_kernels.pyx")
    built = Path(str(module.__file__))
    if source.is_file() and source.stat().st_mtime > built.stat().st_mtime:
        logger.warning("%s is newer than its build %s: run `bash setup.sh` to rebuild", source, built.name)
    return module
