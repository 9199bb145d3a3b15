"""Seeded, order-independent train/val split by image, and seeded image subsets.

Each image gets a pseudo-random rank from a hash of (seed, image_id), so membership depends only on the
seed and the image's id: shuffling the input, or loading it in another process, gives the same split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from fashion_core.data._table import DatasetDict, TableDicts


def image_rank(image_id: Any, seed: int) -> int:
    """A 64-bit pseudo-random rank of ``image_id`` for ``seed`` (stable across processes and Python runs)."""
    digest = hashlib.blake2b(f"{seed}\0{image_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def split_by_image(
    dicts: Sequence[DatasetDict], val_fraction: float, seed: int
) -> tuple[Sequence[DatasetDict], Sequence[DatasetDict]]:
    """Split dataset dicts (one per image) into (train, val), disjoint, deterministic for ``seed``.

    ``round(val_fraction * n)`` images go to val, at least one each side when 0 < val_fraction and n >= 2.
    Both keep the input order: lists, or views for a ``TableDicts`` (whose dicts are not built here).
    Raises ValueError on a fraction outside [0, 1) or duplicate image ids.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    ids = dicts.image_ids if isinstance(dicts, TableDicts) else [d["image_id"] for d in dicts]
    if len(set(ids)) != len(ids):
        raise ValueError(f"image ids must be unique to split by image; {len(ids) - len(set(ids))} repeat")
    n_val = round(val_fraction * len(dicts))
    if val_fraction > 0 and len(dicts) >= 2:
        n_val = min(max(n_val, 1), len(dicts) - 1)
    val_ids = set(_lowest_ranked(ids, n_val, seed))
    if isinstance(dicts, TableDicts):
        in_val = np.fromiter((i in val_ids for i in ids), dtype=bool, count=len(ids))
        return dicts.take(np.flatnonzero(~in_val)), dicts.take(np.flatnonzero(in_val))
    train = [d for d in dicts if d["image_id"] not in val_ids]
    val = [d for d in dicts if d["image_id"] in val_ids]
    return train, val


def subset_images(dicts: Sequence[DatasetDict], max_images: int | None, seed: int | None = None) -> list[DatasetDict]:
    """At most ``max_images`` images: the first N in input order (seed None) or a seeded random N.

    The seeded choice is order-independent like ``split_by_image``; the result keeps the input order.
    """
    if max_images is None or max_images >= len(dicts):
        return list(dicts)
    if max_images < 1:
        raise ValueError(f"max_images must be a positive integer or None, got {max_images!r}")
    if seed is None:
        return list(dicts[:max_images])
    chosen = set(_lowest_ranked([d["image_id"] for d in dicts], max_images, seed))
    return [d for d in dicts if d["image_id"] in chosen]


def _lowest_ranked(ids: list[Any], k: int, seed: int) -> list[Any]:
    # Ties (a 2^-64 chance) are broken by the id's text so the result never depends on input order.
    return sorted(ids, key=lambda i: (image_rank(i, seed), str(i)))[:k]
