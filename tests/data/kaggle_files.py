"""Helpers shared by the data tests: tiny Kaggle rows built from boxes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fashion_core.data._rle import mask_to_kaggle

COLUMNS = ["ImageId", "EncodedPixels", "Height", "Width", "ClassId", "AttributesIds"]
KaggleWriter = Callable[..., Path]


def box_rle(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> str:
    """Kaggle RLE of the filled box rows y0:y1, columns x0:x1 of an h x w image."""
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return mask_to_kaggle(m)


def good_rows() -> list[list[str]]:
    """Two images, three masks: a valid little train.csv."""
    return [
        ["img_a", box_rle(20, 30, 2, 10, 3, 12), "20", "30", "0", "115,136"],
        ["img_a", box_rle(20, 30, 12, 18, 5, 25), "20", "30", "6", ""],
        ["img_b", box_rle(16, 12, 0, 16, 0, 4), "16", "12", "24", ""],
    ]
