"""Fixtures for the data-layer tests: tiny Kaggle CSVs with matching images, written to tmp_path."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from .kaggle_files import COLUMNS, KaggleWriter


@pytest.fixture
def write_kaggle(tmp_path: Path) -> KaggleWriter:
    """write_kaggle(rows, images=None, columns=COLUMNS) → csv path; writes tmp_path/train/<id>.jpg.

    ``images`` maps ImageId → (height, width) of the JPEG to write; by default every image of ``rows``
    gets a file of the size its first row states.
    """

    def write(
        rows: Sequence[Sequence[str]],
        images: dict[str, tuple[int, int]] | None = None,
        columns: Sequence[str] = COLUMNS,
        name: str = "train.csv",
    ) -> Path:
        path = tmp_path / name
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            writer.writerows(rows)
        if images is None:
            images = {}
            for r in rows:
                if len(r) >= 4 and r[2].isdigit() and r[3].isdigit():
                    images.setdefault(r[0], (int(r[2]), int(r[3])))
        (tmp_path / "train").mkdir(exist_ok=True)
        for image_id, (h, w) in images.items():
            Image.new("RGB", (w, h), (120, 120, 120)).save(tmp_path / "train" / f"{image_id}.jpg")
        return path

    return write


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # pycocotools' decode trips a numpy 2 copy-keyword DeprecationWarning on every call; it says nothing
    # about this code, so keep it out of the data tests' output.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"))
            # detectron2's import (for BoxMode) scripts a function with the deprecated torch.jit.script.
            item.add_marker(pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"))
