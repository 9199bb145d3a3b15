"""Kaggle RLE ⇄ COCO RLE against pycocotools: property tests, edge cases and validation messages."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_util
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fashion_core.data.rle as rle_module
from fashion_core.data.coco_string import encode_runs
from fashion_core.data.errors import DataError
from fashion_core.data.rle import (
    check_kaggle_rle,
    coco_counts,
    coco_rle_to_kaggle,
    kaggle_batch_to_coco,
    kaggle_to_coco,
    kaggle_to_mask,
    mask_to_kaggle,
)
from fashion_core.data.scratch import Scratch


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


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 2**23), min_size=2, max_size=16), st.integers(0, 2**23)), max_size=6))
def test_encoded_counts_match_pycocotools(masks: list[tuple[list[int], int]]) -> None:
    # Gaps and lengths of any size and order (deltas of both signs, up to 5 chars a count).
    masks = [(counts[: len(counts) // 2 * 2], tail) for counts, tail in masks]
    gaps = np.array([c for counts, _ in masks for c in counts[0::2]], dtype=np.int64)
    lengths = np.array([c for counts, _ in masks for c in counts[1::2]], dtype=np.int64)
    offsets = np.cumsum([0] + [len(counts) // 2 for counts, _ in masks])
    tails = np.array([tail for _, tail in masks], dtype=np.int64)
    chars, char_offsets = encode_runs(gaps, lengths, offsets, tails)
    for i, (counts, tail) in enumerate(masks):
        full = counts + ([tail] if tail > 0 else [])
        ref = mask_util.frPyObjects([{"size": [1, 1], "counts": full}], 1, 1)[0]["counts"]
        assert chars[char_offsets[i] : char_offsets[i + 1]].tobytes() == ref


def test_slices_and_reused_scratch_agree_with_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    shapes = [(int(rng.integers(1, 60)), int(rng.integers(1, 60))) for _ in range(300)]
    encoded = [random_runs(rng, h, w, int(rng.integers(0, 20))) for h, w in shapes]
    encoded[7], encoded[8] = "1 2 x", "5 1 3 1"  # bad rows in between
    heights, widths = np.array([s[0] for s in shapes]), np.array([s[1] for s in shapes])
    whole = kaggle_batch_to_coco(encoded, heights, widths)
    monkeypatch.setattr(rle_module, "SLICE_BYTES", 97)
    scratch = Scratch()
    for _ in range(2):
        sliced = kaggle_batch_to_coco(encoded, heights, widths, scratch)
        for name in ("ok", "chars", "char_offsets", "boxes", "areas"):
            np.testing.assert_array_equal(getattr(sliced, name), getattr(whole, name))
    assert whole.ok.sum() == len(encoded) - 2


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
