"""Synthetic Kaggle-layout dataset: deterministic, readable by the reader, attributes match the pixels."""

from __future__ import annotations

import filecmp
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pycocotools.mask as mask_util
import pytest

from fashion_core.data._kaggle import load_kaggle_dataset
from fashion_core.data._taxonomy import load_taxonomy
from fashion_core.data.synth import DEFAULT_CLASSES, write_synthetic_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    start = time.perf_counter()
    write_synthetic_dataset(out, images=200, size=128, seed=5)
    assert time.perf_counter() - start < 20  # a few seconds normally; generous for a loaded CI machine
    return out


def test_same_seed_gives_byte_identical_files(synth: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fashion_core.data.synth",
            "--out",
            str(tmp_path / "again"),
            "--images",
            "200",
            "--seed",
            "5",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote 200 images" in proc.stdout
    cmp = filecmp.dircmp(synth, tmp_path / "again")
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    assert not filecmp.dircmp(synth / "train", tmp_path / "again" / "train").diff_files
    # Another seed, another dataset (the same seed gives the same one, above).
    write_synthetic_dataset(tmp_path / "seed5", images=3, seed=5)
    write_synthetic_dataset(tmp_path / "seed6", images=3, seed=6)
    assert (tmp_path / "seed5" / "train.csv").read_text() != (tmp_path / "seed6" / "train.csv").read_text()


def test_readable_by_the_kaggle_reader_with_image_checks(synth: Path) -> None:
    dicts, _ = load_kaggle_dataset(
        synth / "train.csv",
        synth / "train",
        taxonomy=load_taxonomy(synth / "label_descriptions.json"),
        check_images=True,
        progress=False,
    )
    assert len(dicts) == 200
    counts = [len(d["annotations"]) for d in dicts]
    assert min(counts) >= 1 and max(counts) <= 4
    assert {a["category_id"] for d in dicts for a in d["annotations"]} == set(DEFAULT_CLASSES)


def texture(image: np.ndarray, mask: np.ndarray, axis: int) -> float:
    """Mean |difference| between neighbouring pixels along ``axis`` where both lie inside the mask."""
    gray = image.astype(np.float64).mean(axis=2)
    diff = np.abs(np.diff(gray, axis=axis))
    both = mask[1:, :] & mask[:-1, :] if axis == 0 else mask[:, 1:] & mask[:, :-1]
    return float(diff[both].mean())


def test_attributes_match_what_is_drawn(synth: Path) -> None:
    tax = load_taxonomy()
    name = dict(zip(tax.attribute_ids, tax.attribute_names))
    dicts, _ = load_kaggle_dataset(synth / "train.csv", synth / "train", check_images=False, progress=False)
    by_pattern: dict[str, list[tuple[float, float]]] = {"plain (pattern)": [], "stripe": [], "dot": []}
    aspect: dict[str, list[float]] = {"maxi (length)": [], "above-the-hip (length)": []}
    for d in dicts:
        image = np.asarray(cv2.imread(d["file_name"]))
        for a in d["annotations"]:
            attrs = [name[i] for i in a["attribute_ids"]]
            if not tax.class_has_attributes(a["category_id"]):
                assert attrs == []
                continue
            patterns = [n for n in attrs if n in by_pattern]
            assert len(patterns) == 1  # every attribute-carrying object has exactly one pattern attribute
            mask = mask_util.decode(a["segmentation"]).astype(bool)
            by_pattern[patterns[0]].append((texture(image, mask, 0), texture(image, mask, 1)))
            for n in attrs:
                if n in aspect:
                    aspect[n].append(a["bbox"][3] / a["bbox"][2])
    plain, stripe, dot = (np.mean(by_pattern[k], axis=0) for k in ("plain (pattern)", "stripe", "dot"))
    assert stripe[0] > 3 * plain[0] and stripe[0] > 2 * stripe[1]  # horizontal stripes: vertical contrast
    assert dot[0] > 2 * plain[0] and dot[1] > 2 * plain[1]
    assert np.median(aspect["maxi (length)"]) > 1.3 > 0.8 > np.median(aspect["above-the-hip (length)"])


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown class ids \\[99\\]"):
        write_synthetic_dataset(tmp_path, images=1, classes=(0, 99))
    proc = subprocess.run(
        [sys.executable, "-m", "fashion_core.data.synth", "--out", str(tmp_path), "--size", "8"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "size must be at least 32" in proc.stderr and "Traceback" not in proc.stderr
