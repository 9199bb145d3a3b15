"""The bulk integer parser against Python's own split/int: plain text (SWAR path) and every irregularity."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fashion_core.data.int_lists import parse_int_lists
from fashion_core.data.scratch import Scratch


def reference(rows: list[str | None]) -> tuple[list[list[int]], list[bool]]:
    """What a row means: whitespace-separated non-negative integers, or bad (no values). A value beyond
    any image (> 2**40) makes the row bad instead of overflowing."""
    values, ok = [], []
    for row in rows:
        tokens = (row or "").split()
        good = all(re.fullmatch(r"[0-9]+", t) and int(t) <= 2**40 for t in tokens)
        values.append([int(t) for t in tokens] if good else [])
        ok.append(good)
    return values, ok


def parsed(rows: list[str | None], scratch: Scratch | None = None) -> tuple[list[list[int]], list[bool]]:
    result = parse_int_lists(pa.array(rows, type=pa.string()), scratch)
    off = result.offsets.tolist()
    return [result.values[a:b].tolist() for a, b in itertools.pairwise(off)], result.ok.tolist()


numbers = st.integers(0, 10**8 - 1)
plain_rows = st.lists(numbers, max_size=12).map(lambda v: " ".join(map(str, v)))


@settings(max_examples=300, deadline=None)
@given(st.lists(plain_rows, max_size=20))
def test_plain_rows_match_python(rows: list[str]) -> None:
    assert parsed(list(rows)) == reference(list(rows))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="0123456789 \t-+x.\n", max_size=30) | st.none(), max_size=12))
def test_any_text_matches_python(rows: list[str | None]) -> None:
    assert parsed(rows) == reference(rows)


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [""],
        ["", "", ""],
        ["7"],
        ["0 00000000 99999999 12345678"],  # 8 digits fill the word exactly
        ["123456789 1", "2 3"],  # 9 digits: the row-by-row path
        ["1 2", "", "3 4 5", ""],  # empty rows between
        ["1  2"],  # double space
        [" 1 2", "3 4 "],  # leading and trailing space
        ["1\t2", "3"],
        ["1 x", "2 3"],  # a bad row never spoils its neighbours
        ["1 -2", "1 +2", "1 2.5"],
        [str(10**30)],  # beyond any image: bad, not an overflow
    ],
)
def test_edge_cases(rows: list[str]) -> None:
    assert parsed(rows) == reference(rows)


def test_tokens_at_every_alignment() -> None:
    # Tokens of every length at every byte offset, across the 8-byte words the parser reads.
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 9, 3000)
    tokens = [str(rng.integers(10 ** (k - 1) if k > 1 else 0, 10**k)) for k in lengths.tolist()]
    rows = [" ".join(tokens[i : i + 7]) for i in range(0, len(tokens), 7)]
    assert parsed(rows) == reference(rows)


def test_a_reused_scratch_gives_the_same_results() -> None:
    scratch = Scratch()
    rng = np.random.default_rng(1)
    for n in (50, 5, 200, 1, 80):  # shrinking and growing blocks through the same buffers
        rows = [" ".join(map(str, rng.integers(0, 10**6, rng.integers(0, 9)).tolist())) for _ in range(n)]
        assert parsed(rows, scratch) == reference(rows)
