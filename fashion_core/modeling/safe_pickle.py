"""A pickle reader for model-zoo weights that admits data only: numpy arrays and plain containers.

detectron2's model zoo publishes weights as pickles (``.pkl``: a dict of numpy arrays, from Python 2
for the Detectron1/Caffe2 ones). ``pickle.load`` would run whatever a tampered file asks for; this
unpickler resolves only the few globals that rebuild numpy arrays, dtypes and scalars and plain
containers, and refuses anything else with a one-line reason naming the global. Checked against
what ``pickle.dumps`` writes for such data at protocols 0-5 (tests/modeling/test_safe_pickle.py).
"""

from __future__ import annotations

import pickle
from typing import IO, Any

import numpy as np

__all__ = ["ALLOWED_GLOBALS", "load_data_pickle"]

# (module, name) pairs a pickle of numpy arrays in plain containers needs. numpy 2 writes
# numpy._core; files from numpy 1 (the whole model zoo) name numpy.core, which numpy 2 still serves.
ALLOWED_GLOBALS = frozenset(
    {(core, name) for core in ("numpy.core.multiarray", "numpy._core.multiarray")
     for name in ("_reconstruct", "scalar")}
    | {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}  # protocol 5
    | {("numpy", "ndarray"), ("numpy", "dtype")}
    | {("collections", "OrderedDict")}
    | {(b, name) for b in ("builtins", "__builtin__") for name in ("set", "frozenset")}  # __builtin__: Python 2
    | {("_codecs", "encode")}  # bytes in protocol 0-2 pickles written by Python 3
)
_PLAIN = (str, bytes, int, float, bool, complex, type(None))


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"it needs {module}.{name}, which is not data (only numpy arrays and plain containers are read)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("it refers to persistent objects, which are not data")


def load_data_pickle(file: IO[bytes]) -> Any:
    """Unpickle ``file`` as data; ``pickle.UnpicklingError`` (one line) for anything else.

    ``encoding="latin1"`` reads Python 2 pickles of numpy arrays, as detectron2 does.
    Object arrays are refused too: their elements would be arbitrary objects.
    """
    obj = _DataUnpickler(file, encoding="latin1").load()
    _check_plain(obj)
    return obj


def _check_plain(obj: Any) -> None:
    """Walk ``obj`` (iteratively: a deep pickle must not hit the recursion limit) and refuse non-data."""
    todo = [obj]
    seen: set[int] = set()  # a pickle may hold a list that contains itself
    while todo:
        item = todo.pop()
        if isinstance(item, _PLAIN):
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray | np.generic):
            if item.dtype.hasobject:
                raise pickle.UnpicklingError("it holds a numpy array of Python objects, which is not data")
            continue
        if isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            todo.extend(item)
        else:
            raise pickle.UnpicklingError(f"it holds a {type(item).__name__}, which is not data")
