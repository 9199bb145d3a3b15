"""AttributeDatasetMapper: gt_attributes rows follow the instances through crowd/empty filtering."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from detectron2.config import CfgNode
from detectron2.structures import BitMasks, BoxMode
from PIL import Image

from fashion_core.modeling import AttributeDatasetMapper, encode_attributes, load_attribute_ids

H, W = 100, 160


def _rle(x: int, y: int, w: int, h: int) -> dict[str, Any]:
    mask = np.zeros((H, W), dtype=np.uint8, order="F")
    mask[y : y + h, x : x + w] = 1
    rle = mask_util.encode(mask)
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _annotation(category: int, box: list[float], attributes: list[int], **extra: Any) -> dict[str, Any]:
    x, y, w, h = (int(v) for v in box)
    return {
        "bbox": box,
        "bbox_mode": BoxMode.XYWH_ABS,
        "category_id": category,
        "segmentation": _rle(x, y, w, h),
        "attribute_ids": attributes,
        **extra,
    }


@pytest.fixture
def dataset_dict(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "image.jpg"
    Image.fromarray(np.full((H, W, 3), 128, dtype=np.uint8)).save(path)
    polygon = {"segmentation": [[60.0, 20.0, 100.0, 20.0, 100.0, 70.0, 60.0, 70.0]]}
    return {
        "file_name": str(path),
        "height": H,
        "width": W,
        "image_id": 1,
        "annotations": [
            _annotation(3, [10.0, 10.0, 40.0, 30.0], [0, 340]),
            {**_annotation(5, [60.0, 20.0, 40.0, 50.0], []), **polygon},  # polygons work too
            _annotation(7, [0.0, 0.0, 30.0, 30.0], [1], iscrowd=1),  # crowd: dropped
            _annotation(9, [5.0, 5.0, 0.0, 0.0], [2]),  # empty box and mask: dropped by detectron2
            _annotation(10, [120.0, 60.0, 30.0, 30.0], [115, 2, 0]),
        ],
    }


def test_gt_attributes_follow_the_kept_instances(
    make_cfg: Callable[..., CfgNode], dataset_dict: dict[str, Any]
) -> None:
    ids = load_attribute_ids()
    expected = {a["category_id"]: encode_attributes([a["attribute_ids"]], ids)[0] for a in dataset_dict["annotations"]}
    mapper = AttributeDatasetMapper(make_cfg(), is_train=True)
    for _ in range(4):  # random flips do not matter
        instances = mapper(dict(dataset_dict))["instances"]
        assert sorted(instances.gt_classes.tolist()) == [3, 5, 10]
        assert instances.gt_attributes.shape == (3, 294) and instances.gt_attributes.dtype == torch.float32
        assert isinstance(instances.gt_masks, BitMasks)
        for cls, row in zip(instances.gt_classes.tolist(), instances.gt_attributes):
            assert torch.equal(row, expected[cls])
    assert expected[10].sum() == 3 and expected[10][ids.index(115)] == 1


def test_explicit_vocabulary_without_a_config(dataset_dict: dict[str, Any]) -> None:
    mapper = AttributeDatasetMapper(
        True,
        augmentations=[],
        image_format="BGR",
        use_instance_mask=True,
        instance_mask_format="bitmask",
        attribute_ids=[0, 2, 115, 340],
    )
    dataset_dict["annotations"] = [a for a in dataset_dict["annotations"] if a["category_id"] != 9]
    for a in dataset_dict["annotations"]:
        a["attribute_ids"] = [i for i in a["attribute_ids"] if i != 1]
    instances = mapper(dataset_dict)["instances"]
    assert instances.gt_attributes.tolist() == [[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0]]


def test_unknown_attribute_ids_and_missing_fields_are_named(
    make_cfg: Callable[..., CfgNode], dataset_dict: dict[str, Any]
) -> None:
    mapper = AttributeDatasetMapper(make_cfg(), is_train=True)
    gap = next(i for i in range(341) if i not in set(load_attribute_ids()))
    broken = dict(dataset_dict, annotations=[_annotation(3, [10.0, 10.0, 40.0, 30.0], [gap, 999])])
    with pytest.raises(ValueError, match=rf"\[{gap}, 999\]"):
        mapper(broken)
    no_field = _annotation(3, [10.0, 10.0, 40.0, 30.0], [])
    del no_field["attribute_ids"]
    with pytest.raises(KeyError, match="attribute_ids"):
        mapper(dict(dataset_dict, annotations=[no_field]))


def test_image_without_annotations_gets_an_empty_attribute_matrix(
    make_cfg: Callable[..., CfgNode], dataset_dict: dict[str, Any]
) -> None:
    instances = AttributeDatasetMapper(make_cfg(), is_train=True)(dict(dataset_dict, annotations=[]))["instances"]
    assert len(instances) == 0 and instances.gt_attributes.shape == (0, 294)


def test_inference_mapping_drops_annotations(make_cfg: Callable[..., CfgNode], dataset_dict: dict[str, Any]) -> None:
    out = AttributeDatasetMapper(make_cfg(), is_train=False)(dataset_dict)
    assert "instances" not in out and out["image"].shape[0] == 3


def test_vocabulary_size_must_match_the_config(make_cfg: Callable[..., CfgNode]) -> None:
    with pytest.raises(ValueError, match="NUM_ATTRIBUTES is 10 but the taxonomy has 294"):
        AttributeDatasetMapper(make_cfg(["MODEL.ROI_ATTRIBUTE_HEAD.NUM_ATTRIBUTES", 10]), is_train=True)
