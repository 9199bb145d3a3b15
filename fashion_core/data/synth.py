"""A small synthetic dataset in the Kaggle layout that a tiny Mask R-CNN can learn on CPU in minutes.

    python -m fashion_core.data.synth --out DIR [--images 200] [--size 128] [--seed 0] [--classes 0,4,6]

Writes ``DIR/train.csv``, ``DIR/label_descriptions.json`` (the real 46-class / 294-attribute taxonomy)
and ``DIR/train/<ImageId>.jpg``. Each class has its own shape and colour family; objects of classes that
carry attributes get a pattern attribute matching what is drawn (plain / stripe / dot) and, when clearly
tall or wide, a length attribute. Masks are the visible part of each object (later objects occlude
earlier ones). The same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fashion_core.data._kaggle_csv import REQUIRED_COLUMNS
from fashion_core.data._rle import mask_to_kaggle
from fashion_core.data._synth_shapes import PATTERNS, SHAPES, draw_shape, paint_pattern
from fashion_core.data._taxonomy import PACKAGED_TAXONOMY, Taxonomy, load_taxonomy

# Shirt, jacket, pants, skirt, dress (garments with attributes) and bag (no attributes, on purpose: the
# attribute head must learn to ignore such classes).
DEFAULT_CLASSES = (0, 4, 6, 8, 10, 24)
PATTERN_ATTRIBUTE = {"plain": "plain (pattern)", "stripe": "stripe", "dot": "dot"}
TALL_ATTRIBUTE, WIDE_ATTRIBUTE = "maxi (length)", "above-the-hip (length)"
ASPECT_FOR_LENGTH = 1.4  # height/width (or width/height) from which an object counts as tall (wide)
MIN_VISIBLE = 0.6  # objects keep at least this fraction of their pixels after occlusion


@dataclass(frozen=True)
class SynthObject:
    class_id: int
    mask: np.ndarray  # (S, S) bool, visible part
    attribute_ids: tuple[int, ...]


def write_synthetic_dataset(
    out_dir: str | Path,
    *,
    images: int = 200,
    size: int = 128,
    seed: int = 0,
    classes: Sequence[int] = DEFAULT_CLASSES,
) -> int:
    """Write the dataset; returns the number of objects (CSV rows)."""
    taxonomy = load_taxonomy()
    _check_args(images, size, classes, taxonomy)
    out = Path(out_dir)
    (out / "train").mkdir(parents=True, exist_ok=True)
    doc = json.loads(PACKAGED_TAXONOMY.read_text())
    doc = {"info": {"description": "fashion_core.data.synth: the Fashionpedia taxonomy"}, **doc}
    (out / "label_descriptions.json").write_text(json.dumps(doc, indent=1))
    attr = {
        name: taxonomy.attribute_ids[taxonomy.attribute_names.index(name)]
        for name in (*PATTERN_ATTRIBUTE.values(), TALL_ATTRIBUTE, WIDE_ATTRIBUTE)
    }
    n_rows = 0
    with (out / "train.csv").open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(REQUIRED_COLUMNS)
        for i in range(images):
            image_id = hashlib.md5(f"fashion-synth:{seed}:{i}".encode()).hexdigest()
            image, objects = render_image(np.random.default_rng([seed, i]), size, classes, taxonomy, attr)
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise RuntimeError(f"OpenCV could not encode synthetic image {i} as JPEG")
            (out / "train" / f"{image_id}.jpg").write_bytes(jpeg.tobytes())
            for obj in objects:
                writer.writerow(
                    [
                        image_id,
                        mask_to_kaggle(obj.mask),
                        size,
                        size,
                        obj.class_id,
                        ",".join(map(str, obj.attribute_ids)),
                    ]
                )
            n_rows += len(objects)
    return n_rows


def render_image(
    rng: np.random.Generator, size: int, classes: Sequence[int], taxonomy: Taxonomy, attr: dict[str, int]
) -> tuple[np.ndarray, list[SynthObject]]:
    """(S, S, 3) uint8 BGR image with 1-4 objects and their visible masks and attributes."""
    background = rng.integers(90, 171)
    image = np.clip(rng.normal(background, 6.0, (size, size, 3)), 0, 255).astype(np.uint8)
    placed: list[tuple[int, np.ndarray, str, float]] = []  # class slot, full mask, pattern, aspect
    for _ in range(int(rng.integers(1, 5))):
        for _attempt in range(20):
            slot = int(rng.integers(len(classes)))
            w, h = (rng.uniform(0.25, 0.55, 2) * size).astype(int)
            x0, y0 = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
            mask = draw_shape(SHAPES[slot % len(SHAPES)], size, x0, y0, int(w), int(h))
            if _all_visible_enough([*[m for _, m, _, _ in placed], mask]):
                has_attrs = taxonomy.class_has_attributes(classes[slot])
                pattern = PATTERNS[int(rng.integers(len(PATTERNS)))] if has_attrs else "plain"
                placed.append((slot, mask, pattern, h / w))
                break
    objects = []
    for k, (slot, mask, pattern, aspect) in enumerate(placed):
        paint_pattern(image, mask, slot, pattern, rng)
        visible = mask & ~np.logical_or.reduce([m for _, m, _, _ in placed[k + 1 :]] or [np.zeros_like(mask)])
        class_id = classes[slot]
        attrs: tuple[int, ...] = ()
        if taxonomy.class_has_attributes(class_id):
            ids = {attr[PATTERN_ATTRIBUTE[pattern]]}
            if aspect >= ASPECT_FOR_LENGTH:
                ids.add(attr[TALL_ATTRIBUTE])
            elif 1 / aspect >= ASPECT_FOR_LENGTH:
                ids.add(attr[WIDE_ATTRIBUTE])
            attrs = tuple(sorted(ids))
        objects.append(SynthObject(class_id, visible, attrs))
    return image, objects


def _all_visible_enough(masks: list[np.ndarray]) -> bool:
    """Each mask keeps >= MIN_VISIBLE of its pixels under the masks drawn after it."""
    covered = np.zeros_like(masks[0])
    for m in reversed(masks):
        if (m & ~covered).sum() < MIN_VISIBLE * m.sum():
            return False
        covered |= m
    return True


def _check_args(images: int, size: int, classes: Sequence[int], taxonomy: Taxonomy) -> None:
    if images < 1:
        raise ValueError(f"images must be positive, got {images}")
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    if not 1 <= len(classes) <= len(SHAPES) or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be 1..{len(SHAPES)} distinct class ids, got {list(classes)}")
    unknown = [c for c in classes if c not in taxonomy.class_ids]
    if unknown:
        raise ValueError(f"unknown class ids {unknown}; expected ids in 0..{taxonomy.num_classes - 1}")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fashion_core.data.synth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument("--images", type=int, default=200, help="number of images (default 200)")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--classes",
        default=",".join(map(str, DEFAULT_CLASSES)),
        help=f"comma-separated class ids, at most {len(SHAPES)} (default %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        classes = [int(c) for c in args.classes.split(",") if c.strip()]
        n = write_synthetic_dataset(args.out, images=args.images, size=args.size, seed=args.seed, classes=classes)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.images} images and {n} objects to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
