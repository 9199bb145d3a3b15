"""Kaggle RLE ⇄ COCO RLE against pycocotools: property tests, edge cases and validation messages."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_util
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

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
