"""Fashionpedia JSON reader on the real sample and on small hand-made documents."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import pytest
from PIL import Image

from fashion_core.data._errors import DataError
from fashion_core.data._fashionpedia import load_fashionpedia_dataset


def test_real_sample_loads(fashionpedia_sample: Path) -> None:
    dicts, _ = load_fashionpedia_dataset(
        fashionpedia_sample / "sample.json", fashionpedia_sample / "images", progress=False
    )
    assert [(d["image_id"], d["height"], d["width"]) for d in dicts] == [
        (9813, 1000, 618),
        (10223, 1478, 1000),
    ]
    anns = [a for d in dicts for a in d["annotations"]]
    assert len(anns) == 12
    dress = next(a for a in anns if a["category_id"] == 10)
    assert dress["attribute_ids"] == [113, 115, 125, 137, 147, 156, 263] == sorted(dress["attribute_ids"])
    assert all(isinstance(a["segmentation"], list) for a in anns)  # polygons kept as they are
    assert sum(not a["attribute_ids"] for a in anns) >= 3


def doc() -> dict[str, Any]:
    """One 10 x 8 image with a polygon, a compressed RLE and an uncompressed RLE annotation."""
    mask = np.zeros((10, 8), dtype=np.uint8)
    mask[2:6, 1:4] = 1
    rle = mask_util.encode(np.asfortranarray(mask))
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 8}],
        "annotations": [
            {
                "id": 5,
                "image_id": 1,
                "category_id": 0,
                "attribute_ids": [317, 115],
                "iscrowd": 0,
                "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]],
                "bbox": [1, 1, 5, 5],
                "area": 25.0,
            },
            {
                "id": 6,
                "image_id": 1,
                "category_id": 31,
                "attribute_ids": [],
                "segmentation": {"size": [10, 8], "counts": rle["counts"].decode()},
            },
            {
                "id": 7,
                "image_id": 1,
                "category_id": 24,
                "segmentation": {"size": [10, 8], "counts": [12, 4, 6, 4, 6, 4, 44]},
            },
        ],
    }


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(document))
    return path


def test_rle_segmentations_are_compressed_and_boxes_derived(tmp_path: Path) -> None:
    (d,), _ = load_fashionpedia_dataset(write(tmp_path, doc()), tmp_path, check_images=False, progress=False)
    poly, rle, raw = d["annotations"]
    assert poly["attribute_ids"] == [115, 317] and poly["bbox"] == [1.0, 1.0, 5.0, 5.0]
    assert rle["bbox"] == [1.0, 2.0, 3.0, 4.0] and rle["area"] == 12.0
    assert isinstance(raw["segmentation"]["counts"], str)
    np.testing.assert_array_equal(mask_util.decode(raw["segmentation"]), mask_util.decode(rle["segmentation"]))
    assert raw["attribute_ids"] == [] and raw["category_id"] == 24


def broken(path: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(doc())
    target: Any = document
    *keys, last = path.split(".")
    for k in keys:
        target = target[int(k)] if k.isdigit() else target[k]
    target[last] = value
    return document


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            broken("annotations.0.category_id", 46),
            "annotation id 5 (index 0), category_id: unknown category id 46",
        ),
        (
            broken("annotations.1.attribute_ids", [235]),
            "annotation id 6 (index 1), attribute_ids: unknown attribute",
        ),
        (
            broken("annotations.1.attribute_ids", "317"),
            "annotation id 6 (index 1), attribute_ids: expected a list",
        ),
        (
            broken("annotations.0.segmentation", [[1, 2, 3]]),
            "annotation id 5 (index 0), segmentation: polygon 0 has an odd number",
        ),
        (
            broken("annotations.0.segmentation", [[1, 2, 3, 4]]),
            "segmentation: no polygon with at least 3 points",
        ),
        (
            broken("annotations.1.segmentation", {"size": [8, 10], "counts": "abc"}),
            "annotation id 6 (index 1), "
            "segmentation: RLE size [8, 10] differs from the image's [height, width] = [10, 8]",
        ),
        (
            broken("annotations.2.segmentation", {"size": [10, 8], "counts": [5, 4]}),
            "annotation id 7 (index 2), segmentation: RLE runs sum to 9, expected height*width = 80",
        ),
        (broken("annotations.2.image_id", 99), "annotation id 7 (index 2), image_id: unknown image id 99"),
        (
            broken("annotations.0.bbox", [0, 0, -1, 3]),
            "annotation id 5 (index 0), bbox: expected [x, y, w, h]",
        ),
        (broken("images.0.height", 0), "image id 1 (index 0), height: expected a positive integer, got 0"),
    ],
)
def test_bad_annotations_name_file_annotation_and_field(
    tmp_path: Path, document: dict[str, Any], expected: str
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(DataError) as err:
        load_fashionpedia_dataset(path, tmp_path, check_images=False, progress=False)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_bad_documents(tmp_path: Path) -> None:
    path = tmp_path / "gt.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match=r"gt\.json document, json: not valid JSON"):
        load_fashionpedia_dataset(path, tmp_path, progress=False)
    with pytest.raises(DataError, match=r"missing\.json document, file: JSON file not found"):
        load_fashionpedia_dataset(tmp_path / "missing.json", tmp_path, progress=False)


def test_skip_mode_and_image_checks(tmp_path: Path) -> None:
    document = broken("annotations.0.category_id", 99)
    document["images"].append({"id": 2, "file_name": "b.jpg", "height": 4, "width": 4})
    document["annotations"].append({"id": 8, "image_id": 2, "category_id": 1, "segmentation": [[0, 0, 3, 0, 3, 3]]})
    path = write(tmp_path, document)
    Image.new("RGB", (8, 10)).save(tmp_path / "a.jpg")  # b.jpg is missing
    dicts, report = load_fashionpedia_dataset(
        path, tmp_path, on_error="skip", check_images=True, progress=False
    )
    assert [d["image_id"] for d in dicts] == [1] and len(dicts[0]["annotations"]) == 2
    assert report.rows_skipped == 2  # the bad annotation, and the one on image 2 whose file is missing
    assert report.skipped_by_field == {"category_id": 1, "file_name": 1}
    assert (report.images_loaded, report.images_skipped) == (1, 1)
    assert "b.jpg not found" in report.examples[1]
