"""Hypothesis strategy: small Fashionpedia ground truth + results built from integer rectangles.

Rectangles on a small grid make exact IoU values (0.5, 0.75, 0.9 ...) and exact ties common; a short
score list makes score ties common; a 6-attribute pool makes every F1 value reachable.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .builders import ATTRIBUTES, det, gt_ann, gt_doc, image

CATEGORIES = (0, 1, 13, 20, 27, 28, 32, 45)  # attribute-checked garments/parts, accessories, plain parts
SCORES = (0.1, 0.5, 0.5, 0.9, 1.0)
FILE_AREAS = (4.0, 1024.0, 1025.0, 9216.0, 9217.0, 20000.0)


@st.composite
def boxes(draw: st.DrawFn, h: int, w: int) -> tuple[int, int, int, int]:
    x = draw(st.integers(0, w - 2))
    y = draw(st.integers(0, h - 2))
    return x, y, draw(st.integers(1, w - x)), draw(st.integers(1, h - y))


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    n_images = draw(st.integers(1, 3))
    images = [image(100 + i, draw(st.integers(4, 12)), draw(st.integers(4, 12))) for i in range(n_images)]
    attrs = st.lists(st.sampled_from(ATTRIBUTES), max_size=3)
    anns: list[dict[str, Any]] = []
    for img in images:
        for _ in range(draw(st.integers(0, 4))):
            box = draw(boxes(img["height"], img["width"]))
            area = draw(st.one_of(st.none(), st.sampled_from(FILE_AREAS)))
            anns.append(gt_ann(len(anns) + 1, img, draw(st.sampled_from(CATEGORIES)), box, attrs=draw(attrs),
                               crowd=int(draw(st.integers(0, 9)) == 0), area=area))
    with_bbox = draw(st.booleans())
    results: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 12))):
        img = draw(st.sampled_from(images))
        same = [a for a in anns if a["image_id"] == img["id"]]
        copy_gt: bool = draw(st.booleans())
        if same and copy_gt:
            src = draw(st.sampled_from(same))
            x, y, bw, bh = (int(v) for v in src["bbox"])
            dx, dy = draw(st.integers(-1, 1)), draw(st.integers(-1, 1))
            x, y = min(max(x + dx, 0), img["width"] - 1), min(max(y + dy, 0), img["height"] - 1)
            box = (x, y, max(1, min(bw, img["width"] - x)), max(1, min(bh, img["height"] - y)))
            cat = src["category_id"] if draw(st.integers(0, 4)) else draw(st.sampled_from(CATEGORIES))
            a = list(src["attribute_ids"]) if draw(st.booleans()) else draw(attrs)
        else:
            box, cat, a = draw(boxes(img["height"], img["width"])), draw(st.sampled_from(CATEGORIES)), draw(attrs)
        results.append(det(img, cat, box, draw(st.sampled_from(SCORES)), attrs=a, with_bbox=with_bbox))
    return gt_doc(images, anns), results
