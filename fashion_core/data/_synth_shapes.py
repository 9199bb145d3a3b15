"""Shapes, colour families and textile patterns for the synthetic dataset (one per class slot)."""

from __future__ import annotations

import cv2
import numpy as np

SHAPES = ("rectangle", "ellipse", "triangle", "trapezoid", "diamond", "hexagon", "cross", "inverted_triangle")
PATTERNS = ("plain", "stripe", "dot")
# BGR base colours, one family per class slot, far apart in hue so colour alone hints at the class.
COLOURS = np.array(
    [
        (200, 90, 40),
        (60, 170, 60),
        (40, 40, 200),
        (170, 60, 160),
        (30, 140, 240),
        (190, 190, 40),
        (40, 200, 220),
        (60, 90, 130),
    ],
    dtype=np.float64,
)


def draw_shape(shape: str, size: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """(size, size) bool mask of ``shape`` inscribed in the box (x0, y0, w, h)."""
    canvas = np.zeros((size, size), dtype=np.uint8)
    if shape == "ellipse":
        cv2.ellipse(canvas, (x0 + w // 2, y0 + h // 2), (w // 2, h // 2), 0, 0, 360, 1, thickness=-1)
        return canvas.astype(bool)
    unit = _UNIT_POLYGONS[shape]
    points = np.round(unit * [w - 1, h - 1] + [x0, y0]).astype(np.int32)
    cv2.fillPoly(canvas, [points], 1)
    return canvas.astype(bool)


_UNIT_POLYGONS = {
    "rectangle": np.array([(0, 0), (1, 0), (1, 1), (0, 1)], dtype=np.float64),
    "triangle": np.array([(0.5, 0), (1, 1), (0, 1)], dtype=np.float64),
    "trapezoid": np.array([(0.25, 0), (0.75, 0), (1, 1), (0, 1)], dtype=np.float64),
    "diamond": np.array([(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)], dtype=np.float64),
    "hexagon": np.array([(0.25, 0), (0.75, 0), (1, 0.5), (0.75, 1), (0.25, 1), (0, 0.5)], dtype=np.float64),
    "cross": np.array(
        [
            (0.33, 0),
            (0.67, 0),
            (0.67, 0.33),
            (1, 0.33),
            (1, 0.67),
            (0.67, 0.67),
            (0.67, 1),
            (0.33, 1),
            (0.33, 0.67),
            (0, 0.67),
            (0, 0.33),
            (0.33, 0.33),
        ],
        dtype=np.float64,
    ),
    "inverted_triangle": np.array([(0, 0), (1, 0), (0.5, 1)], dtype=np.float64),
}


def paint_pattern(image: np.ndarray, mask: np.ndarray, slot: int, pattern: str, rng: np.random.Generator) -> None:
    """Paint the (H, W) ``mask`` pixels of the (H, W, 3) uint8 ``image`` in the slot's colour and pattern."""
    size = image.shape[0]
    colour = np.clip(COLOURS[slot % len(COLOURS)] * rng.uniform(0.85, 1.15) + rng.normal(0, 8, 3), 20, 250)
    ys, xs = np.nonzero(mask)
    pixels = np.broadcast_to(colour, (ys.size, 3)).copy()
    # Stripe and dot scales grow with the image so they stay visible after the model's resize.
    period = max(4, size // 24)
    if pattern == "stripe":
        dark = ((ys - ys.min()) // (period // 2)) % 2 == 1
        pixels[dark] *= 0.4
    elif pattern == "dot":
        dy, dx = (ys - ys.min()) % period - period / 2, (xs - xs.min()) % period - period / 2
        dot = dy * dy + dx * dx <= (period / 3.5) ** 2 * 2
        pixels[dot] = 255 - 0.5 * pixels[dot]
    elif pattern != "plain":
        raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
    noise = rng.normal(0, 4, pixels.shape)
    image[ys, xs] = np.clip(pixels + noise, 0, 255).astype(np.uint8)
