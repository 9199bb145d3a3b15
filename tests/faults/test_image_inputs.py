"""Issue 13 items 8, 9 and the image part of 10: image problems stop a run before training, in one line.

``prepare_dataset`` is what ``search.run`` and ``fashion_core.train`` call before Ray or detectron2 start.
"""

from __future__ import annotations

import csv
import shutil
import struct
from pathlib import Path

import pytest

pytest.importorskip("detectron2")

from fashion_core.data import DataError
from fashion_core.data.synth import write_synthetic_dataset
from fashion_core.engine.datasets import prepare_dataset


@pytest.fixture()
def kaggle(tmp_path: Path) -> Path:
    root = tmp_path / "kaggle"
    write_synthetic_dataset(root, images=4, size=64, seed=0)
    return root


def _first_image(root: Path) -> Path:
    with open(root / "train.csv") as f:
        return root / "train" / f"{next(csv.DictReader(f))['ImageId']}.jpg"


def _prepare(root: Path, tmp_path: Path) -> object:
    return prepare_dataset(str(root), synthetic_root=tmp_path / "synth", cache_dir=tmp_path / "cache")


def _bomb_jpeg(path: Path, width: int = 60000, height: int = 60000) -> None:
    """A JPEG header announcing width x height pixels (SOI, SOF0, EOI): tiny on disk, huge once decoded."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    path.write_bytes(b"\xff\xd8" + sof + b"\xff\xd9")


@pytest.mark.parametrize("fault", ["missing", "empty", "not_an_image", "wrong_size", "bomb"])
def test_bad_image_files_fail_before_training(kaggle: Path, tmp_path: Path, fault: str) -> None:
    image = _first_image(kaggle)
    if fault == "missing":
        image.unlink()
    elif fault == "empty":
        image.write_bytes(b"")
    elif fault == "not_an_image":
        image.write_text("ImageId,EncodedPixels\n")
    elif fault == "wrong_size":
        from PIL import Image

        Image.new("RGB", (32, 48)).save(image)
    else:
        _bomb_jpeg(image)
    with pytest.raises(DataError) as info:
        _prepare(kaggle, tmp_path)
    message = str(info.value)
    assert image.name in message and "\n" not in message, message
    expected = {"missing": "not found", "empty": "unreadable", "not_an_image": "unreadable",
                "wrong_size": "is 32x48", "bomb": "decompression bomb"}[fault]
    assert expected in message, message


def test_fashionpedia_json_without_its_image_folder(fashionpedia_sample: Path, tmp_path: Path) -> None:
    json_copy = tmp_path / "sample.json"
    shutil.copy(fashionpedia_sample / "sample.json", json_copy)  # no images/ beside the copy
    with pytest.raises(FileNotFoundError, match=r"image folder .*images not found"):
        _prepare(json_copy, tmp_path)


@pytest.mark.parametrize("image_id", ["../../../outside/secret", "/etc/passwd", "a/b"])
def test_image_ids_that_leave_the_image_folder_are_refused(kaggle: Path, tmp_path: Path, image_id: str) -> None:
    """Item 9: an ImageId is joined to the image folder; a path would read a file outside it."""
    csv_path = kaggle / "train.csv"
    rows = list(csv.reader(csv_path.open()))
    rows[1][0] = image_id
    with csv_path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(DataError, match=r"row 1 \(ImageId .*\), ImageId: .*(outside the image folder|absolute)"):
        _prepare(kaggle, tmp_path)


def test_fashionpedia_file_names_that_leave_the_image_folder(fashionpedia_sample: Path, tmp_path: Path) -> None:
    import json

    doc = json.loads((fashionpedia_sample / "sample.json").read_text())
    doc["images"][0]["file_name"] = "../../outside/secret.jpg"
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(doc))
    shutil.copytree(fashionpedia_sample / "images", tmp_path / "images")
    with pytest.raises(DataError, match=r"file_name: .*outside the image folder"):
        _prepare(path, tmp_path)
