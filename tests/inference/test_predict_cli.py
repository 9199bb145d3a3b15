"""``python -m fashion_core.predict`` end to end on a tiny model: outputs, submission, bad images, ground truth."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils
import pytest

from fashion_core.data._rle import kaggle_to_mask
from fashion_core.predict import main

# The images of the image_dir fixture as the model sees them (EXIF orientation applied).
SIZES = {"rgb": (96, 128), "gray": (96, 128), "cmyk": (96, 128), "exif": (128, 64)}


def _predict(args: list[str]) -> int:
    return main([*args, "--workers", "0", "--quiet"])


@pytest.fixture(scope="module")
def run(bundle: Path, image_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("predict")
    assert _predict(["--model", str(bundle), "--images", str(image_dir), "--out", str(out), "--vis", "2"]) == 0
    return out


def _rle(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_results_json_has_every_field(run: Path) -> None:
    results = json.loads((run / "results.json").read_text())
    assert results, "a zero class-score threshold keeps detections of a random model"
    assert {r["image_id"] for r in results} <= set(SIZES)
    for r in results[:50]:
        assert set(r) == {"image_id", "category_id", "score", "segmentation", "bbox", "attribute_ids",
                          "attribute_scores"}
        assert isinstance(r["segmentation"]["counts"], str) and len(r["bbox"]) == 4
        assert len(r["attribute_scores"]) == 294
        assert list(r["segmentation"]["size"]) == list(SIZES[r["image_id"]])


def test_submission_lists_every_image_and_masks_do_not_overlap(run: Path) -> None:
    rows = _rows(run / "submission.csv")
    assert list(rows[0]) == ["ImageId", "EncodedPixels", "ClassId", "AttributesIds"]
    assert {r["ImageId"] for r in rows} == set(SIZES)
    for image_id, (h, w) in SIZES.items():
        masks = [kaggle_to_mask(r["EncodedPixels"], h, w) for r in rows if r["ImageId"] == image_id]
        assert len(masks) > 1
        assert int(np.sum(masks, axis=0).max()) == 1, f"{image_id}: masks overlap"


def test_pictures(run: Path) -> None:
    assert len(list((run / "vis").glob("*.jpg"))) == 2


def test_broken_image_stops_with_one_line(bundle: Path, image_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    shutil.copytree(image_dir, folder)
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    assert _predict(["--model", str(bundle), "--images", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "broken.jpg" in err and "--on-error skip" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists(), "checked before the model is built or anything is written"


def test_on_error_skip_goes_on(bundle: Path, image_dir: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(image_dir / "rgb.jpg", folder)
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    # A JPEG cut after its header: it opens, and fails only when decoded (inside a loader worker).
    data = (image_dir / "exif.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    out = tmp_path / "o"
    args = ["--model", str(bundle), "--images", str(folder / "*.jpg"), "--out", str(out), "--on-error", "skip"]
    assert _predict(args) == 0
    assert "skipped 2 unreadable images" in capsys.readouterr().out
    skipped = (out / "skipped.txt").read_text().splitlines()
    assert sorted(Path(line.split("\t")[0]).name for line in skipped) == ["broken.jpg", "truncated.jpg"]
    rows = _rows(out / "submission.csv")
    assert {r["ImageId"] for r in rows} == {"rgb", "broken", "truncated"}, "every input image is listed"
    assert [r["EncodedPixels"] for r in rows if r["ImageId"] != "rgb"] == ["1 1", "1 1"]
    assert {r["image_id"] for r in json.loads((out / "results.json").read_text())} == {"rgb"}


def _of_the_models_taxonomy(gt: dict[str, Any]) -> dict[str, Any]:
    """``gt`` with the categories and attributes of the packaged taxonomy (named by id, as dataset_dicts_to_gt does)."""
    from fashion_core.data import load_taxonomy

    taxonomy = load_taxonomy()
    return {**gt, "categories": [{"id": c, "name": str(c), "supercategory": ""} for c in taxonomy.class_ids],
            "attributes": [{"id": a, "name": str(a)} for a in taxonomy.attribute_ids]}


def test_gt_gives_ids_by_file_name_and_metrics(bundle: Path, image_dir: Path, tmp_path: Path) -> None:
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for i, (stem, (h, w)) in enumerate(SIZES.items()):
        suffix = ".png" if stem == "gray" else ".jpg"
        images.append({"id": 100 + i, "file_name": f"some/dir/{stem}{suffix}", "height": h, "width": w})
        mask = np.zeros((h, w), dtype=bool)
        mask[10:40, 20:60] = True
        anns.append({"id": i + 1, "image_id": 100 + i, "category_id": 1, "segmentation": _rle(mask),
                     "area": float(mask.sum()), "bbox": [20.0, 10.0, 40.0, 30.0], "iscrowd": 0,
                     "attribute_ids": [115]})
    gt = _of_the_models_taxonomy({"images": images, "annotations": anns})
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    out = tmp_path / "o"
    args = ["--model", str(bundle), "--images", str(image_dir), "--out", str(out), "--gt", str(tmp_path / "gt.json"),
            "--vis", "0"]
    assert _predict(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert {r["image_id"] for r in results} == {100, 101, 102, 103}
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"segm", "bbox"} and -1.0 <= metrics["segm"]["AP_iou_f1"] <= 1.0
    from fashion_core.evaluation import evaluate_fashionpedia

    assert metrics["segm"] == evaluate_fashionpedia(gt, results, "segm")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--images", "IMAGES"], "give --model DIR"),
        (["--model", "MISSING", "--images", "IMAGES"], "not a folder"),
        (["--model", "BUNDLE", "--images", "IMAGES/*.gif"], "matches no file"),
        (["--model", "BUNDLE", "--images", "IMAGES", "MODEL.ROI_HEADS.NO_SUCH_KEY", "1"], "not a fashion-tune config"),
        (["--model", "BUNDLE", "--images", "IMAGES", "--gt", "MISSING.json"], "file not found"),
    ],
)
def test_bad_arguments_give_one_line(bundle: Path, image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     args: list[str], message: str) -> None:
    subst = {"IMAGES": str(image_dir), "BUNDLE": str(bundle), "MISSING": str(tmp_path / "nope")}
    args = [a.replace("IMAGES", subst["IMAGES"]).replace("BUNDLE", subst["BUNDLE"])
            .replace("MISSING", subst["MISSING"]) for a in args]
    assert _predict([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_checkpoint_of_another_model_is_refused(bundle: Path, image_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from .conftest import write_bundle

    other = write_bundle(tmp_path / "other", ("MODEL.ROI_ATTRIBUTE_HEAD.FC_DIM", "128"))
    args = ["--config", str(bundle / "config.yaml"), "--weights", str(other / "model.pth"), "--images", str(image_dir)]
    assert _predict([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "does not fit the config's model" in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_models_in_cpu_workers_give_the_same_outputs(bundle: Path, image_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """--workers 2 on the CPU with one thread per model runs a model in each loader worker (forked): the
    results, the submission and the pictures are those of the model in this process with one thread."""
    folder = tmp_path / "in"
    shutil.copytree(image_dir, folder)
    data = (image_dir / "exif.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])  # fails when decoded, in a worker
    outs = {}
    for workers in ("0", "2"):
        outs[workers] = tmp_path / f"o{workers}"
        args = ["--model", str(bundle), "--images", str(folder), "--out", str(outs[workers]), "--vis", "3",
                "--threads", "1", "--on-error", "skip", "--workers", workers, "--quiet"]
        assert main(args) == 0
        printed = capsys.readouterr().out
        assert ("with a model each" in printed) == (workers == "2"), printed
    for name in ("results.json", "submission.csv", "skipped.txt"):
        assert (outs["2"] / name).read_text() == (outs["0"] / name).read_text(), name
    assert json.loads((outs["2"] / "results.json").read_text()), "compared on real detections"
    pictures = sorted(p.name for p in (outs["0"] / "vis").glob("*.jpg"))
    assert len(pictures) == 3 and sorted(p.name for p in (outs["2"] / "vis").glob("*.jpg")) == pictures


def test_gt_of_another_taxonomy_names_both_before_predicting(bundle: Path, image_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    images = [{"id": i, "file_name": f"{stem}.jpg", "height": h, "width": w} for i, (stem, (h, w)) in
              enumerate(SIZES.items())]
    gt = _of_the_models_taxonomy({"images": images, "annotations": [],
                                  "info": {"description": "Fashionpedia 2019", "version": "0.9"}})
    gt["attributes"] = [a for a in gt["attributes"] if a["id"] < 300]  # an older attribute list
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    out = tmp_path / "o"
    assert _predict(["--model", str(bundle), "--images", str(image_dir), "--out", str(out),
                     "--gt", str(tmp_path / "gt.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"error: ground truth {tmp_path / 'gt.json'} document: another taxonomy than the model's" in err
    assert "the ground truth's 46 classes and " in err and "(description 'Fashionpedia 2019'; version '0.9')" in err
    assert "against the model's 46 classes and 294 attributes (taxonomy_fashionpedia.json)" in err
    assert "of the model's attribute ids, e.g. 300 (" in err
    assert not out.exists(), "refused before anything was predicted"


def test_a_used_out_folder_is_said_and_holds_this_runs_outputs_only(
        bundle: Path, image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    (out / "vis").mkdir(parents=True)
    # An earlier run with ground truth and more pictures, and a file of the user's.
    for name in ("results.json", "submission.csv", "metrics.json", "skipped.txt"):
        (out / name).write_text("earlier")
    for stem in ("a", "b", "c"):
        (out / "vis" / f"{stem}.jpg").write_bytes(b"earlier")
    (out / "notes.txt").write_text("mine")
    assert _predict(["--model", str(bundle), "--images", str(image_dir), "--out", str(out), "--vis", "1"]) == 0
    printed = capsys.readouterr().out
    assert (f"{out}: replacing an earlier run's results.json, submission.csv, metrics.json, skipped.txt, "
            "3 pictures in vis/") in printed
    assert not (out / "metrics.json").exists() and not (out / "skipped.txt").exists()
    assert len(list((out / "vis").glob("*.jpg"))) == 1 and (out / "notes.txt").read_text() == "mine"
    assert (out / "results.json").read_text() != "earlier"


def test_help_gives_every_default() -> None:
    """Each option that may be left out says what it defaults to (flags: what happens without them)."""
    from fashion_core.predict import get_args_parser

    for action in get_args_parser()._actions:
        if action.dest == "help" or action.required:
            continue
        assert action.help and "default" in action.help, action.option_strings or action.dest


@pytest.mark.slow  # a fresh interpreter: torch, detectron2 and two forked workers (~15 s of CPU)
def test_a_clean_run_prints_no_library_warning(bundle: Path, image_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "fashion_core.predict", "--model", str(bundle), "--images", str(image_dir),
           "--out", str(tmp_path / "o"), "--vis", "1", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Warning" not in proc.stderr and "warnings.warn" not in proc.stderr, proc.stderr
