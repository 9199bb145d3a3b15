"""Zero-copy views of an Arrow string column's bytes, for the compiled parsers (``_kernels.pyx``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def text_and_bounds(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) uint8 UTF-8 bytes and (B + 1,) int64 bounds: row r is ``text[bounds[r]:bounds[r + 1]]``.

    Nulls read as empty strings. Views Arrow's buffers (no copy) for string/large_string arrays; the
    column must stay alive while the views are used.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.null_count:
        column = pc.fill_null(column, "")  # a null slot's offsets may span bytes: Arrow does not forbid it
    if column.type not in (pa.string(), pa.large_string()):
        column = column.cast(pa.large_string())
    n = len(column)
    if n == 0 or column.buffers()[1] is None:
        return np.zeros(0, dtype=np.uint8), np.zeros(n + 1, dtype=np.int64)
    offset_type = np.int32 if column.type == pa.string() else np.int64
    bounds = np.frombuffer(column.buffers()[1], dtype=offset_type)[column.offset : column.offset + n + 1]
    data = column.buffers()[2]
    text = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return text, bounds.astype(np.int64)
