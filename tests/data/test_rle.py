"""Kaggle RLE ⇄ COCO RLE against pycocotools: property tests, edge cases and validation messages."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pycocotools.mask as mask_util
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fashion_core.data._arrays import Scratch
from fashion_core.data._coco_string import _first_invalid_numpy, decode_counts, first_invalid_rle
from fashion_core.data._errors import DataError
from fashion_core.data._rle import (
    check_kaggle_rle,
    coco_counts,
    coco_rle_to_kaggle,
    kaggle_batch_to_coco,
    kaggle_to_coco,
    kaggle_to_mask,
    mask_to_kaggle,
)


def masks(max_side: int = 24) -> st.SearchStrategy[np.ndarray]:
    shapes = st.tuples(st.integers(1, max_side), st.integers(1, max_side))
    return shapes.flatmap(lambda s: arrays(np.bool_, s))


def encode(mask: np.ndarray) -> dict:
    return mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))


@settings(max_examples=300, deadline=None)
@given(masks())
def test_dense_to_kaggle_to_coco_decodes_to_the_same_mask(mask: np.ndarray) -> None:
    h, w = mask.shape
    rle = kaggle_to_coco(mask_to_kaggle(mask), h, w)
    np.testing.assert_array_equal(mask_util.decode(rle).astype(bool), mask)
    # Byte-identical to pycocotools' own encoder, so either can be stored or compared.
    assert rle["counts"] == encode(mask)["counts"].decode()
    assert rle["size"] == [h, w]


@settings(max_examples=300, deadline=None)
@given(masks())
def test_coco_to_kaggle_to_coco_is_identical(mask: np.ndarray) -> None:
    ref = encode(mask)
    kaggle = coco_rle_to_kaggle(ref)
    assert kaggle == mask_to_kaggle(mask)
    assert kaggle_to_coco(kaggle, *mask.shape)["counts"] == ref["counts"].decode()


@settings(max_examples=100, deadline=None)
@given(st.lists(masks(12), min_size=1, max_size=8))
def test_batch_conversion_matches_pycocotools_boxes_and_areas(batch: list[np.ndarray]) -> None:
    result = kaggle_batch_to_coco(
        [mask_to_kaggle(m) for m in batch],
        np.array([m.shape[0] for m in batch]),
        np.array([m.shape[1] for m in batch]),
    )
    assert result.ok.all()
    refs = [encode(m) for m in batch]
    assert [result.rle(i)["counts"] for i in range(len(batch))] == [r["counts"].decode() for r in refs]  # type: ignore[index]
    np.testing.assert_array_equal(result.areas, [float(m.sum()) for m in batch])
    np.testing.assert_array_equal(result.boxes, np.stack([mask_util.toBbox(r) for r in refs]))


@settings(max_examples=200, deadline=None)
@given(masks())
def test_coco_counts_decodes_the_compressed_string(mask: np.ndarray) -> None:
    counts = coco_counts(encode(mask))
    assert counts.sum() == mask.size
    rebuilt = mask_util.frPyObjects({"size": list(mask.shape), "counts": counts.tolist()}, *mask.shape)
    assert rebuilt["counts"] == encode(mask)["counts"]


def test_large_counts_with_negative_deltas_decode() -> None:
    mask = np.zeros((1500, 1200), dtype=bool)
    mask[100:1400, 50:60] = True
    mask[700:701, 600:1100] = True
    assert coco_rle_to_kaggle(encode(mask)) == mask_to_kaggle(mask)
    assert coco_counts(encode(mask)).sum() == mask.size


@pytest.mark.parametrize(
    ("shape", "pixels"),
    [
        ((5, 7), []),  # empty
        ((5, 7), "all"),  # full
        ((5, 7), [(0, 0)]),  # top-left corner = pixel 1
        ((5, 7), [(4, 6)]),  # bottom-right corner = pixel h*w
        ((5, 7), [(4, 0)]),  # bottom-left
        ((5, 7), [(0, 6)]),  # top-right
        ((1, 9), [(0, 0), (0, 3), (0, 8)]),  # 1 x N
        ((9, 1), [(0, 0), (3, 0), (8, 0)]),  # N x 1
        ((1, 1), "all"),
        ((1, 1), []),
    ],
)
def test_edge_cases_round_trip(shape: tuple[int, int], pixels: object) -> None:
    mask = np.zeros(shape, dtype=bool)
    if pixels == "all":
        mask[:] = True
    else:
        for y, x in pixels:  # type: ignore[attr-defined]
            mask[y, x] = True
    kaggle = mask_to_kaggle(mask)
    np.testing.assert_array_equal(kaggle_to_mask(kaggle, *shape).astype(bool), mask)
    assert kaggle_to_coco(kaggle, *shape)["counts"] == encode(mask)["counts"].decode()
    assert coco_rle_to_kaggle(encode(mask)) == kaggle


def test_column_major_one_indexed_convention() -> None:
    # Pixel 2 of a 3 x 4 image is row 1, column 0; pixel 4 is row 0, column 1.
    mask = kaggle_to_mask("2 1 4 1", 3, 4)
    assert mask[1, 0] == 1 and mask[0, 1] == 1 and mask.sum() == 2


def test_touching_runs_are_merged_and_whitespace_tolerated() -> None:
    assert kaggle_to_coco("1 2 3 1", 3, 4) == kaggle_to_coco("1 3", 3, 4)
    assert kaggle_to_coco("  1   2 5 1 ", 3, 4) == kaggle_to_coco("1 2 5 1", 3, 4)


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("1 2 3", "odd number of values (3)"),
        ("1 x", "token 2 'x' is not a non-negative integer"),
        ("1 2.5", "token 2 '2.5' is not a non-negative integer"),
        ("1 -2", "token 2 '-2' is not a non-negative integer"),
        ("1 0", "run 1 has length 0"),
        ("0 2", "run 1 starts at pixel 0"),
        ("5 2 3 1", "run 2 starts at pixel 3, before the end of the previous run (6)"),
        ("1 3 2 1", "run 2 starts at pixel 2, before the end of the previous run (3)"),
        ("1 2 11 3", "run 2 ends at pixel 13 beyond Height*Width=12"),
    ],
)
def test_invalid_rle_is_rejected_with_the_reason(encoded: str, expected: str) -> None:
    assert expected in (check_kaggle_rle(encoded, 3, 4) or "")
    batch = kaggle_batch_to_coco([encoded, "1 1"], np.array([3, 3]), np.array([4, 4]))
    assert batch.ok.tolist() == [False, True]  # a bad row never spoils its neighbours
    with pytest.raises(DataError, match="EncodedPixels") as err:
        kaggle_to_coco(encoded, 3, 4)
    assert expected in str(err.value)


def test_valid_rle_has_no_problem() -> None:
    assert check_kaggle_rle("1 2 5 8", 3, 4) is None
    assert check_kaggle_rle("", 3, 4) is None


def random_runs(rng: np.random.Generator, h: int, w: int, n_runs: int) -> str:
    """A Kaggle RLE of n_runs non-touching runs at random places; many wrap into the next column."""
    total = h * w
    cuts = np.sort(rng.choice(np.arange(1, total + 1), size=min(2 * n_runs, total // 2 * 2), replace=False))
    starts, stops = cuts[0::2], cuts[1::2]  # run [start, stop) in 1-indexed pixels
    keep = stops > starts
    pairs = np.stack([starts[keep], stops[keep] - starts[keep]], axis=1).ravel()
    return " ".join(map(str, pairs.tolist()))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_boxes_areas_and_strings_of_larger_masks_match_pycocotools(seed: int) -> None:
    # Larger images than the dense property tests, runs of any length: many span columns (the box then
    # covers the full height) and the counts reach several chars per value.
    rng = np.random.default_rng(seed)
    shapes = [(int(rng.integers(1, 400)), int(rng.integers(1, 400))) for _ in range(6)]
    encoded = [random_runs(rng, h, w, int(rng.integers(0, 60))) for h, w in shapes]
    result = kaggle_batch_to_coco(encoded, np.array([s[0] for s in shapes]), np.array([s[1] for s in shapes]))
    assert result.ok.all()
    for i, ((h, w), enc) in enumerate(zip(shapes, encoded)):
        ref = encode(kaggle_to_mask(enc, h, w).astype(bool))
        assert result.rle(i)["counts"] == ref["counts"].decode()  # type: ignore[index]
        np.testing.assert_array_equal(result.boxes[i], mask_util.toBbox(ref))
        assert result.areas[i] == mask_util.area(ref)


@st.composite
def run_lists(draw: st.DrawFn) -> tuple[int, int, list[int], list[int]]:
    """(h, w, gaps, lengths) of up to 16 runs on an image of up to 60k x 60k (pycocotools counts are uint32):
    gaps and lengths of any size and order, so deltas of both signs and counts of 1 to 7 chars."""
    h, w = draw(st.integers(1, 60_000)), draw(st.integers(1, 60_000))
    sizes = st.integers(1, 2**23) | st.integers(1, 40)
    pairs = draw(st.lists(st.tuples(sizes, sizes), max_size=16))
    gaps, lengths, used = [], [], 0
    for k, (gap, length) in enumerate(pairs):
        gap = gap - 1 if k == 0 else gap  # only the first run may start at pixel 1 (gap 0)
        if used + gap + length > h * w:
            break
        gaps.append(gap)
        lengths.append(length)
        used += gap + length
    return h, w, gaps, lengths


@settings(max_examples=300, deadline=None)
@given(st.lists(run_lists(), min_size=1, max_size=5))
def test_counts_boxes_and_areas_match_pycocotools_on_huge_images(
    masks: list[tuple[int, int, list[int], list[int]]],
) -> None:
    # pycocotools builds its reference from the uncompressed counts: no dense mask, so images of 10^9 pixels.
    encoded, refs = [], []
    for h, w, gaps, lengths in masks:
        starts = np.cumsum(np.array(gaps, dtype=np.int64) + np.array([0, *lengths[:-1]], dtype=np.int64)) + 1
        encoded.append(" ".join(f"{s} {n}" for s, n in zip(starts.tolist(), lengths)))
        counts = [c for pair in zip(gaps, lengths) for c in pair]
        if h * w > sum(counts):  # pycocotools' encoder writes no trailing zero count
            counts.append(h * w - sum(counts))
        refs.append(mask_util.frPyObjects({"size": [h, w], "counts": counts}, h, w))
    result = kaggle_batch_to_coco(encoded, np.array([m[0] for m in masks]), np.array([m[1] for m in masks]))
    assert result.ok.all()
    for i, ref in enumerate(refs):
        assert result.rle(i)["counts"] == ref["counts"].decode()  # type: ignore[index]
        np.testing.assert_array_equal(result.boxes[i], mask_util.toBbox(ref))
        assert result.areas[i] == mask_util.area(ref)


def test_rows_subsets_arrow_layouts_and_reused_scratch_agree_with_one_batch() -> None:
    rng = np.random.default_rng(3)
    shapes = [(int(rng.integers(1, 60)), int(rng.integers(1, 60))) for _ in range(300)]
    encoded = [random_runs(rng, h, w, int(rng.integers(0, 20))) for h, w in shapes]
    encoded[7], encoded[8] = "1 2 x", "5 1 3 1"  # bad rows in between
    heights, widths = np.array([s[0] for s in shapes]), np.array([s[1] for s in shapes])
    whole = kaggle_batch_to_coco(encoded, heights, widths)
    assert whole.ok.sum() == len(encoded) - 2
    rows = np.array([299, 3, 7, 3, 150])
    column = pa.array(["junk", *encoded, None], type=pa.string()).slice(1, len(encoded))  # an offset view
    scratch = Scratch()
    for layout in (column, column.cast(pa.large_string()), pa.chunked_array([encoded[:100], encoded[100:]])):
        for _ in range(2):
            part = kaggle_batch_to_coco(layout, heights[rows], widths[rows], rows=rows, scratch=scratch)
            assert part.ok.tolist() == whole.ok[rows].tolist()
            for k, r in enumerate(rows.tolist()):
                assert part.rle(k) == whole.rle(r)
            np.testing.assert_array_equal(part.boxes, whole.boxes[rows])
            np.testing.assert_array_equal(part.areas, whole.areas[rows])
    nulls = kaggle_batch_to_coco(pa.array([None, "1 2"]), np.array([3, 3]), np.array([4, 4]))
    assert nulls.ok.all() and nulls.areas.tolist() == [0.0, 2.0]  # a null is an empty mask


def test_any_ascii_whitespace_separates_tokens_and_other_bytes_do_not() -> None:
    assert kaggle_to_coco("1\t2\n5\r\n1\x0b", 3, 4) == kaggle_to_coco("1 2 5 1", 3, 4)
    problem = check_kaggle_rle("1\u00a02", 3, 4)  # a no-break space is not a separator
    assert problem is not None and "not a non-negative integer" in problem
    assert not kaggle_batch_to_coco(["1\u00a02"], np.array([3]), np.array([4])).ok[0]


@pytest.mark.parametrize("token", ["9" * 14, "9" * 25, str(2**40 + 1), str(2**63)])
def test_huge_tokens_are_invalid_not_overflowing(token: str) -> None:
    for encoded in (f"1 {token}", f"{token} 1", f"1 1 {token} 2"):
        assert not kaggle_batch_to_coco([encoded], np.array([3]), np.array([4])).ok[0]
        assert check_kaggle_rle(encoded, 3, 4) is not None


def test_invalid_sizes_and_rows_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        kaggle_batch_to_coco(["1 1"], np.array([0]), np.array([4]))
    with pytest.raises(ValueError, match="rows"):
        kaggle_batch_to_coco(["1 1"], np.array([3]), np.array([4]), rows=np.array([1]))
    with pytest.raises(ValueError, match="heights"):
        kaggle_batch_to_coco(["1 1", "2 1"], np.array([3]), np.array([4]))


def test_large_image_counts_and_box() -> None:
    # A 24-megapixel image: the first gap needs 6 chars, a run wraps from one column into the next.
    h, w = 4000, 6000
    encoded = f"{h * 5000 + 3990} 20 {h * 5001 + 100} 7 {h * w - 2} 3"
    rle = kaggle_to_coco(encoded, h, w)
    mask = kaggle_to_mask(encoded, h, w).astype(bool)
    ref = encode(mask)
    assert rle["counts"] == ref["counts"].decode()
    batch = kaggle_batch_to_coco([encoded], np.array([h]), np.array([w]))
    np.testing.assert_array_equal(batch.boxes[0], mask_util.toBbox(ref))
    assert batch.boxes[0].tolist() == [5000.0, 0.0, 1000.0, 4000.0] and batch.areas[0] == 30


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet="0123456789 \t\n\r,-x.\u00a0", max_size=40),
    st.integers(1, 12),
    st.integers(1, 12),
)
def test_compiled_validity_agrees_with_the_reason_given(encoded: str, h: int, w: int) -> None:
    # A row the compiled pass rejects always gets a reason from check_kaggle_rle, and only such a row.
    ok = kaggle_batch_to_coco([encoded], np.array([h]), np.array([w])).ok[0]
    assert ok == (check_kaggle_rle(encoded, h, w) is None)
    if ok:  # and then the mask is the one the pairs describe
        tokens = [int(t) for t in encoded.split()]
        mask = kaggle_to_mask(encoded, h, w).ravel(order="F")
        expected = np.zeros(h * w, dtype=np.uint8)
        for start, length in zip(tokens[0::2], tokens[1::2]):
            expected[start - 1 : start - 1 + length] = 1
        np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("check", [first_invalid_rle, _first_invalid_numpy], ids=["compiled", "numpy"])
def test_rle_check_agrees_with_the_reference_decoder(check: Callable[..., tuple[int, str] | None]) -> None:
    """Valid pycocotools strings pass; a corrupted one fails exactly when its decoded runs are invalid
    (issue 13 item 12: pycocotools itself reads and writes past its buffers on those)."""
    rng = np.random.default_rng(0)
    texts: list[str | bytes] = []
    pixels = []
    for i in range(300):
        h, w = (int(v) for v in rng.integers(1, 120, 2))
        m = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        counts = mask_util.encode(np.asfortranarray(m))["counts"]
        texts.append(counts if i % 2 else counts.decode("ascii"))
        pixels.append(h * w)
    assert check(texts, np.array(pixels)) is None
    assert check([], np.zeros(0)) is None
    for trial in range(500):
        j = int(rng.integers(len(texts)))
        broken = bytearray(texts[j] if isinstance(texts[j], bytes) else texts[j].encode("ascii"))
        broken[int(rng.integers(len(broken)))] = int(rng.integers(48, 112))
        try:
            runs = decode_counts(bytes(broken))
            valid = bool((runs >= 0).all()) and int(runs.sum()) == pixels[j]
        except ValueError:
            valid = False
        found = check([*texts[:j], bytes(broken), *texts[j + 1 :]], np.array(pixels))
        assert (found is None) == valid, (trial, bytes(broken), found)
        assert found is None or found[0] == j


@pytest.mark.parametrize("check", [first_invalid_rle, _first_invalid_numpy], ids=["compiled", "numpy"])
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("zzzzzzzz", "outside '0'..'o'"),
        ("ab", "truncated"),
        ("0" * 20 + "1", "run lengths sum to 1, expected h*w = 400"),
        ("1O", "negative or larger"),
        ("", "run lengths sum to 0, expected h*w = 400"),
        ("o" * 13 + "0", "more than 12 characters"),
    ],
)
def test_rle_check_names_the_problem(check: Callable[..., tuple[int, str] | None], text: str, problem: str) -> None:
    good = mask_util.encode(np.asfortranarray(np.ones((20, 20), dtype=np.uint8)))["counts"]
    found = check([good, text, good], np.array([400, 400, 400]))
    assert found is not None and found[0] == 1 and problem in found[1], found
