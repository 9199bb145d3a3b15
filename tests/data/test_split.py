"""Seeded train/val split by image and image subsets."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from fashion_core.data._split import split_by_image, subset_images


def dicts(n: int) -> list[dict]:
    return [{"image_id": f"img{i}", "annotations": []} for i in range(n)]


def ids(ds: Sequence[dict]) -> list[str]:
    return [d["image_id"] for d in ds]


def test_split_is_deterministic_disjoint_and_complete() -> None:
    data = dicts(200)
    train, val = split_by_image(data, 0.2, seed=3)
    assert len(val) == 40 and len(train) == 160
    assert not set(ids(train)) & set(ids(val))
    assert sorted(ids(train) + ids(val)) == sorted(ids(data))
    assert split_by_image(data, 0.2, seed=3) == (train, val)
    assert set(ids(split_by_image(data, 0.2, seed=4)[1])) != set(ids(val))


def test_split_does_not_depend_on_input_order() -> None:
    data = dicts(100)
    shuffled = data[:]
    random.Random(0).shuffle(shuffled)
    assert set(ids(split_by_image(shuffled, 0.1, 7)[1])) == set(ids(split_by_image(data, 0.1, 7)[1]))


def test_split_edge_cases() -> None:
    assert ids(split_by_image(dicts(5), 0.0, 0)[1]) == []
    train, val = split_by_image(dicts(2), 0.01, 0)
    assert len(train) == len(val) == 1  # a positive fraction always leaves one image on each side
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\), got 1\.0"):
        split_by_image(dicts(5), 1.0, 0)
    with pytest.raises(ValueError, match="image ids must be unique"):
        split_by_image(dicts(3) + dicts(1), 0.5, 0)


def test_subset_images() -> None:
    data = dicts(50)
    assert ids(subset_images(data, 5)) == ids(data[:5])
    seeded = subset_images(data, 5, seed=1)
    assert len(seeded) == 5 and seeded == subset_images(list(reversed(data)), 5, seed=1)[::-1]
    assert subset_images(data, None) == data
    with pytest.raises(ValueError, match="max_images must be a positive integer"):
        subset_images(data, 0)
