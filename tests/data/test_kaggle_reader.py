"""Kaggle train.csv reader: dataset dicts, every bad-input error (file/row/field named), skip mode, cache."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import pytest

import fashion_core.data._kaggle_csv as kaggle_csv
from fashion_core.data._errors import DataError
from fashion_core.data._kaggle import load_kaggle_dataset

from .kaggle_files import COLUMNS, KaggleWriter, box_rle, good_rows


def load(csv_path: Path, **kwargs: object) -> Sequence[dict]:
    kwargs.setdefault("progress", False)
    return load_kaggle_dataset(csv_path, csv_path.parent / "train", **kwargs)[0]  # type: ignore[arg-type]


def test_good_csv_gives_detectron2_dicts(write_kaggle: KaggleWriter) -> None:
    rows = good_rows()
    rows[0][5] = "136, 115"  # unsorted, with a space
    csv_path = write_kaggle(rows)
    dicts = load(csv_path)
    assert [d["image_id"] for d in dicts] == ["img_a", "img_b"]
    a = dicts[0]
    assert a["file_name"] == str(csv_path.parent / "train" / "img_a.jpg")
    assert (a["height"], a["width"]) == (20, 30)
    first = a["annotations"][0]
    assert first["bbox"] == [3.0, 2.0, 9.0, 8.0]
    assert first["bbox_mode"] == 1  # BoxMode.XYWH_ABS
    assert first["category_id"] == 0 and first["attribute_ids"] == [115, 136]
    assert first["iscrowd"] == 0 and first["area"] == 72.0
    assert isinstance(first["segmentation"]["counts"], str)
    expected = np.zeros((20, 30), dtype=np.uint8)
    expected[2:10, 3:12] = 1
    np.testing.assert_array_equal(mask_util.decode(first["segmentation"]), expected)
    assert a["annotations"][1]["attribute_ids"] == [] and a["annotations"][1]["category_id"] == 6
    assert dicts[1]["annotations"][0]["category_id"] == 24


def test_rows_of_an_image_need_not_be_contiguous(write_kaggle: KaggleWriter) -> None:
    rows = good_rows()
    dicts = load(write_kaggle([rows[0], rows[2], rows[1]]))
    assert [len(d["annotations"]) for d in dicts] == [2, 1]
    assert [a["category_id"] for a in dicts[0]["annotations"]] == [0, 6]


def bad(rows_change: int, column: str, value: str) -> list[list[str]]:
    rows = good_rows()
    rows[rows_change][COLUMNS.index(column)] = value
    return rows


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (bad(1, "EncodedPixels", "1 2 x 4"), "row 2 (ImageId 'img_a'), EncodedPixels: token 3 'x' is not"),
        (bad(1, "EncodedPixels", "1 2 3"), "row 2 (ImageId 'img_a'), EncodedPixels: odd number of values"),
        (
            bad(1, "EncodedPixels", "590 20"),
            "row 2 (ImageId 'img_a'), EncodedPixels: run 1 ends at pixel 609 beyond Height*Width=600",
        ),
        (bad(1, "EncodedPixels", "10 5 12 3"), "EncodedPixels: run 2 starts at pixel 12, before the end"),
        (bad(1, "EncodedPixels", "1 0"), "EncodedPixels: run 1 has length 0"),
        (bad(1, "EncodedPixels", ""), "row 2 (ImageId 'img_a'), EncodedPixels: empty mask"),
        (
            bad(2, "Height", "abc"),
            "row 3 (ImageId 'img_b'), Height: expected an integer in 1..100000, got 'abc'",
        ),
        (bad(2, "Width", "0"), "row 3 (ImageId 'img_b'), Width: expected an integer in 1..100000, got '0'"),
        (bad(0, "ClassId", "46"), "row 1 (ImageId 'img_a'), ClassId: unknown class id '46'"),
        (bad(0, "ClassId", "x"), "row 1 (ImageId 'img_a'), ClassId: unknown class id 'x'"),
        (
            bad(0, "AttributesIds", "115,235"),
            "row 1 (ImageId 'img_a'), AttributesIds: unknown attribute id(s) ['235']",
        ),
        (bad(0, "AttributesIds", "115;3"), "AttributesIds: unknown attribute id(s) ['115;3']"),
        (bad(1, "ImageId", ""), "row 2, ImageId: empty ImageId"),
        (
            bad(1, "Height", "21"),
            "row 2 (ImageId 'img_a'), Height: 21 disagrees with 20 on row 1 of the same image",
        ),
        (bad(1, "Width", "31"), "row 2 (ImageId 'img_a'), Width: 31 disagrees with 30 on row 1"),
    ],
)
def test_bad_rows_name_file_row_and_field(write_kaggle: KaggleWriter, rows: list[list[str]], expected: str) -> None:
    csv_path = write_kaggle(rows, images={"img_a": (20, 30), "img_b": (16, 12)})
    with pytest.raises(DataError) as err:
        load(csv_path)
    assert str(csv_path) in str(err.value)
    assert expected in str(err.value)


def test_missing_column(write_kaggle: KaggleWriter) -> None:
    rows = [r[:4] + r[5:] for r in good_rows()]
    csv_path = write_kaggle(rows, columns=[c for c in COLUMNS if c != "ClassId"])
    with pytest.raises(DataError, match=r"train.csv header, ClassId: missing required column\(s\) \['ClassId'\]"):
        load(csv_path)


def test_missing_csv(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv header, file: CSV file not found"):
        load(tmp_path / "nope.csv")


def test_malformed_line(write_kaggle: KaggleWriter) -> None:
    csv_path = write_kaggle([*good_rows(), ["img_c", "1 1", "4"]])
    with pytest.raises(DataError, match=r"train.csv row 4, CSV: .*has 3 columns, expected 6"):
        load(csv_path)


def test_empty_dataset(write_kaggle: KaggleWriter) -> None:
    with pytest.raises(DataError, match=r"all rows, EncodedPixels: no valid annotations \(0 rows read"):
        load(write_kaggle([]))


def test_image_file_problems(write_kaggle: KaggleWriter, tmp_path: Path) -> None:
    csv_path = write_kaggle(good_rows(), images={"img_a": (20, 30), "img_b": (12, 16)})  # img_b transposed
    with pytest.raises(DataError) as err:
        load(csv_path)
    assert "row 3 (ImageId 'img_b'), Height/Width: image file" in str(err.value)
    assert "is 16x12 (width x height, after EXIF rotation) but the annotation says 12x16" in str(err.value)
    assert len(load(csv_path, check_images=False)) == 2  # the check is optional

    (tmp_path / "train" / "img_b.jpg").unlink()
    with pytest.raises(DataError, match=r"row 3 \(ImageId 'img_b'\), ImageId: image file .*img_b.jpg not found"):
        load(csv_path)
    (tmp_path / "train" / "img_b.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"ImageId: image file .*img_b.jpg is unreadable"):
        load(csv_path)


def test_skip_mode_counts_and_reports(write_kaggle: KaggleWriter, caplog: pytest.LogCaptureFixture) -> None:
    rows = good_rows()
    rows[1][1] = "1 2 3"  # bad RLE
    rows.append(["img_a", box_rle(20, 30, 0, 2, 0, 2), "20", "30", "0", "999"])  # bad attribute
    rows.append(["img_c", box_rle(8, 8, 0, 2, 0, 2), "8", "8", "1", "317"])  # image file missing
    rows.append(["img_c", box_rle(8, 8, 4, 6, 0, 2), "8", "8", "1", ""])
    csv_path = write_kaggle(rows, images={"img_a": (20, 30), "img_b": (16, 12)})
    with caplog.at_level(logging.WARNING):
        dicts, report = load_kaggle_dataset(
            csv_path, csv_path.parent / "train", on_error="skip", progress=False
        )
    assert [len(d["annotations"]) for d in dicts] == [1, 1]
    assert (report.rows_total, report.rows_loaded, report.rows_skipped) == (6, 2, 4)
    assert (report.images_loaded, report.images_skipped) == (2, 1)
    assert report.skipped_by_field == {"EncodedPixels": 1, "AttributesIds": 1, "ImageId": 2}
    assert "EncodedPixels: odd number of values" in report.examples[0]
    assert "skipped 4 rows and 1 images" in caplog.text


def test_on_error_is_validated(write_kaggle: KaggleWriter) -> None:
    with pytest.raises(ValueError, match="on_error must be one of"):
        load(write_kaggle(good_rows()), on_error="ignore")


def test_max_images_keeps_the_first_images_in_file_order(write_kaggle: KaggleWriter) -> None:
    dicts = load(write_kaggle(good_rows()), max_images=1)
    assert [d["image_id"] for d in dicts] == ["img_a"] and len(dicts[0]["annotations"]) == 2


def many_rows(n_images: int) -> list[list[str]]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_images):
        h, w = (int(v) for v in rng.integers(10, 40, 2))
        for _ in range(int(rng.integers(1, 4))):
            y0, x0 = int(rng.integers(0, h - 2)), int(rng.integers(0, w - 2))
            rows.append([f"im{i:04d}", box_rle(h, w, y0, h, x0, w), str(h), str(w), str(rng.integers(46)), "317"])
    return rows


def test_many_small_blocks_agree_with_one_block(write_kaggle: KaggleWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = many_rows(300)
    csv_path = write_kaggle(rows)
    whole = load(csv_path, check_images=False)
    monkeypatch.setattr(kaggle_csv, "BLOCK_BYTES", 2048)
    assert load(csv_path, check_images=False) == whole
    # Raise mode names the first bad row of the file even with many blocks in flight.
    rows[400][1] = "1"
    rows[500][1] = "x"
    with pytest.raises(DataError, match="row 401 "):
        load(write_kaggle(rows, images={}), check_images=False)


def test_cache_round_trip_and_invalidation(
    write_kaggle: KaggleWriter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    csv_path = write_kaggle(many_rows(50))
    cache = tmp_path / "cache"
    kwargs = {"cache_dir": cache, "progress": False}
    fresh, r1 = load_kaggle_dataset(csv_path, tmp_path / "train", **kwargs)  # type: ignore[arg-type]
    cached, r2 = load_kaggle_dataset(csv_path, tmp_path / "train", **kwargs)  # type: ignore[arg-type]
    assert not r1.from_cache and r2.from_cache and cached == fresh
    (entry,) = cache.iterdir()
    # Other options → another cache entry, never the stale one.
    load_kaggle_dataset(csv_path, tmp_path / "train", max_images=3, **kwargs)  # type: ignore[arg-type]
    assert len(list(cache.iterdir())) == 2
    # A corrupt entry is reported and rebuilt.
    (entry / "boxes.npy").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        again, r3 = load_kaggle_dataset(csv_path, tmp_path / "train", **kwargs)  # type: ignore[arg-type]
    assert "unreadable" in caplog.text and not r3.from_cache and again == fresh
    # Editing the CSV (new mtime) misses the cache.
    st = csv_path.stat()
    os.utime(csv_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    _, r4 = load_kaggle_dataset(csv_path, tmp_path / "train", **kwargs)  # type: ignore[arg-type]
    assert not r4.from_cache
