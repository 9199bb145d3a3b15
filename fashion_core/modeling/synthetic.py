"""Synthetic model inputs (coloured rectangles with classes, masks, attributes) for tests and benchmarks."""

from __future__ import annotations

from typing import Any

import torch
from detectron2.structures import BitMasks, Boxes, Instances

__all__ = ["synthetic_batch"]


def synthetic_batch(
    num_images: int = 2,
    *,
    size: int = 128,
    max_objects: int = 3,
    num_classes: int = 46,
    num_attributes: int = 294,
    max_attributes: int = 4,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Training inputs for a detectron2 model: ``size`` x ``size`` BGR uint8 images of random rectangles.

    Each image has 0..max_objects objects (image 0 of a batch of >= 2 has none, to cover empty images);
    each object a class in [0, num_classes), a box mask, and 0..max_attributes attributes as a (N, A)
    multi-hot ``gt_attributes``. Deterministic for a given ``seed`` (own generator).
    """
    g = torch.Generator().manual_seed(seed)
    batch = []
    for i in range(num_images):
        image = torch.randint(0, 64, (3, size, size), dtype=torch.uint8, generator=g)
        n = 0 if (i == 0 and num_images >= 2) else int(torch.randint(1, max_objects + 1, (1,), generator=g))
        boxes = torch.zeros((n, 4))
        masks = torch.zeros((n, size, size), dtype=torch.bool)
        classes = torch.randint(0, num_classes, (n,), generator=g)
        attributes = torch.zeros((n, num_attributes))
        for j in range(n):
            x0, y0 = torch.randint(0, size // 2, (2,), generator=g).tolist()
            w, h = torch.randint(size // 6, size // 2, (2,), generator=g).tolist()
            boxes[j] = torch.tensor([x0, y0, x0 + w, y0 + h], dtype=torch.float32)
            masks[j, y0 : y0 + h, x0 : x0 + w] = True
            # Colour by class so that classes (and attributes drawn per object) are learnable.
            image[:, y0 : y0 + h, x0 : x0 + w] = (classes[j] * 37 % 192 + 64).to(torch.uint8)
            k = int(torch.randint(0, max_attributes + 1, (1,), generator=g))
            attributes[j, torch.randperm(num_attributes, generator=g)[:k]] = 1.0
        instances = Instances((size, size))
        instances.gt_boxes = Boxes(boxes)
        instances.gt_classes = classes
        instances.gt_masks = BitMasks(masks)
        instances.gt_attributes = attributes
        batch.append({"image": image, "height": size, "width": size, "instances": instances})
    return batch
