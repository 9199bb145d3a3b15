"""The compiled small-field parsers agree with the Python rules that word the row errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from fashion_core.data._arrays import text_and_bounds
from fashion_core.data._compiled import ASCII_SPACE, kernels
from fashion_core.data._kaggle_csv import _uint_text

FIELD = st.text(alphabet="0123456789 \t,x-+.\u0663", max_size=14)


@settings(max_examples=300, deadline=None)
@given(st.lists(FIELD | st.none(), max_size=8))
def test_uints_match_the_python_rule(fields: list[str | None]) -> None:
    text, bounds = text_and_bounds(pa.array(fields, type=pa.string()))
    values = np.empty(len(fields), dtype=np.int64)
    kernels().parse_uints(text, bounds, values)
    expected = [-1 if (v := _uint_text(f or "")) is None else v for f in fields]
    assert values.tolist() == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(FIELD, max_size=8), st.sets(st.integers(0, 40), max_size=20))
def test_id_lists_match_the_python_rule(fields: list[str], known_ids: set[int]) -> None:
    known = np.zeros(41, dtype=np.uint8)
    known[list(known_ids)] = 1
    text, bounds = text_and_bounds(pa.array(fields, type=pa.large_string()) if fields else pa.array([], pa.string()))
    k = kernels()
    ids = np.empty(k.id_list_capacity(int(bounds[-1] - bounds[0]), len(fields)), dtype=np.int64)
    counts, ok = np.empty(len(fields), dtype=np.int64), np.empty(len(fields), dtype=np.uint8)
    n = k.parse_id_lists(text, bounds, known, ids, counts, ok)
    offsets = np.concatenate(([0], np.cumsum(counts)))
    assert n == offsets[-1]
    for r, field in enumerate(fields):
        items = [t for t in field.split(",") if t.strip(ASCII_SPACE)]
        values = [_uint_text(t) for t in items]
        good = all(v is not None and v < 41 and known[v] for v in values)
        assert bool(ok[r]) == good
        assert ids[offsets[r] : offsets[r + 1]].tolist() == (sorted(set(values)) if good else [])  # type: ignore[type-var]
