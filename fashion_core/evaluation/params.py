"""The fixed parameters of the official Fashionpedia evaluation (``fashionpedia==1.1``, ``FPEval``/``FPParams``).

Every grid is built with the same numpy calls as the official code, so thresholds compare bit for bit
(``np.linspace(.5, .95, 10)[8]`` is ``0.8999999999999999``, and that is what the official code uses).
"""

from __future__ import annotations

import numpy as np

from fashion_core.data import FASHIONPEDIA_CLASSES_WITH_ATTRIBUTES

# T = 11 IoU thresholds: COCO's 0.50:0.05:0.95 plus -1.0, which FPEval appends to mean "no IoU constraint"
# (any detection can match any ground truth, IoU 0 included). Index T-1 is that -1 entry.
IOU_THRESHOLDS: np.ndarray = np.append(np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1), -1.0)

# F = 11 attribute-F1 thresholds: 0.50:0.05:0.95 plus -1.0 ("no F1 constraint"), index F-1.
F1_THRESHOLDS: np.ndarray = np.append(np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1), -1.0)

# R = 101 recall thresholds 0:0.01:1 at which precision is sampled (COCO).
RECALL_THRESHOLDS: np.ndarray = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)

# A = 4 area ranges in pixels², both ends inclusive (an area of exactly 32² is "small" and "medium").
AREA_RANGES: tuple[tuple[float, float], ...] = (
    (0**2, 1e5**2),
    (0**2, 32**2),
    (32**2, 96**2),
    (96**2, 1e5**2),
)
AREA_LABELS: tuple[str, ...] = ("all", "small", "medium", "large")

# M = 3 caps on detections per image *and category* (COCO semantics with useCats=1).
MAX_DETS: tuple[int, ...] = (1, 10, 100)

# Category ids (and, for the accumulation/summary quirk, category *indices*) whose attributes are scored:
# the official FPParams.catsWithAttributes, which the data layer's taxonomy defines once.
CATS_WITH_ATTRIBUTES: frozenset[int] = FASHIONPEDIA_CLASSES_WITH_ATTRIBUTES

# Super-categories as the official code hard-codes them: *indices* into the sorted category list.
# o = outerwear (garments 0..12), a = accessories (13..26), p = garment parts (27..45).
SUPER_CATEGORY_KEYS: tuple[str, ...] = ("o", "a", "p")
SUPER_CATEGORY_INDICES: tuple[range, ...] = (range(0, 13), range(13, 27), range(27, 46))

# The official summary indexes super-category 'p' up to index 45, so it needs at least 46 categories.
MIN_CATEGORIES = 46

# "Nothing matched yet" starts at min(threshold, 1 - 1e-10), exactly as COCOeval / FPEval.
MATCH_CEILING = 1 - 1e-10
