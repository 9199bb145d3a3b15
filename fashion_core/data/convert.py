"""Convert between Fashionpedia JSON, Kaggle CSV and Kaggle submissions.

python -m fashion_core.data.convert fp2kaggle --json instances.json --out-csv train.csv
python -m fashion_core.data.convert kaggle2fp --csv train.csv [--images train/] --out-json instances.json
python -m fashion_core.data.convert submission --pred results.json [--gt instances.json] --out-csv sub.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fashion_core.data._coco_string import first_invalid_rle
from fashion_core.data._errors import DataError, read_json_document
from fashion_core.data._fashionpedia import load_fashionpedia_dataset
from fashion_core.data._fp_annotations import is_int
from fashion_core.data._kaggle import load_kaggle_dataset
from fashion_core.data._kaggle_csv import REQUIRED_COLUMNS
from fashion_core.data._rle import coco_rle_to_kaggle, segmentation_to_rle
from fashion_core.data._submission import InstancePrediction, write_kaggle_submission
from fashion_core.data._taxonomy import PACKAGED_TAXONOMY, load_taxonomy, taxonomy_from_dict

logger = logging.getLogger(__name__)


def fashionpedia_to_kaggle(
    json_path: str | Path,
    out_csv: str | Path,
    image_dir: str | Path | None = None,
    out_labels: str | Path | None = None,
) -> int:
    """Fashionpedia JSON → Kaggle train.csv (polygons rasterized); returns rows written.

    ImageId is the image file's stem; annotations whose mask rasterizes to no pixel are left out (warned).
    ``out_labels`` receives the JSON's own categories/attributes as a Kaggle ``label_descriptions.json``:
    needed to read the CSV back when the JSON uses another taxonomy version than the packaged one.
    """
    vocab = _vocabulary(json_path)
    taxonomy = taxonomy_from_dict(vocab, str(json_path))
    dicts, _ = load_fashionpedia_dataset(
        json_path,
        image_dir or Path(json_path).parent,
        taxonomy=taxonomy,
        check_images=image_dir is not None,
        progress=False,
    )
    rows, empty = [], 0
    for d in dicts:
        for ann in d["annotations"]:
            encoded = coco_rle_to_kaggle(segmentation_to_rle(ann["segmentation"], d["height"], d["width"]))
            if not encoded:
                empty += 1
                continue
            class_id = taxonomy.class_ids[ann["category_id"]]
            attrs = ",".join(map(str, ann["attribute_ids"]))
            rows.append([Path(d["file_name"]).stem, encoded, d["height"], d["width"], class_id, attrs])
    if empty:
        logger.warning("%s: %d annotations have an empty mask and were left out", json_path, empty)
    with Path(out_csv).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REQUIRED_COLUMNS)
        writer.writerows(rows)
    if out_labels is not None:
        labels = {"info": {"description": f"taxonomy of {Path(json_path).name}"}, **vocab}
        Path(out_labels).write_text(json.dumps(labels, indent=1))
    return len(rows)


def _vocabulary(json_path: str | Path) -> dict[str, Any]:
    """``categories`` and ``attributes`` of a Fashionpedia JSON, else of the packaged taxonomy."""
    doc = read_json_document(json_path)
    if not (isinstance(doc, dict) and "categories" in doc and "attributes" in doc):
        doc = json.loads(PACKAGED_TAXONOMY.read_text())
    return {"categories": doc["categories"], "attributes": doc["attributes"]}


def kaggle_to_fashionpedia(
    csv_path: str | Path,
    out_json: str | Path,
    image_dir: str | Path | None = None,
    taxonomy_path: str | Path | None = None,
) -> int:
    """Kaggle CSV → Fashionpedia JSON with compressed RLE; returns annotations written.

    Image ids are the ImageIds as integers when all are digits (so a Fashionpedia → Kaggle → Fashionpedia
    round trip keeps them), else 1..N in file order; annotation ids are 1..M in file order per image.
    """
    taxonomy = load_taxonomy(taxonomy_path)
    dicts, _ = load_kaggle_dataset(
        csv_path, image_dir or ".", taxonomy=taxonomy, check_images=image_dir is not None, progress=False
    )
    table = dicts.table
    numeric = all(i.isdigit() for i in table.image_ids)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i, image_id in enumerate(table.image_ids):
        ident = int(image_id) if numeric else i + 1
        h, w = int(table.heights[i]), int(table.widths[i])
        images.append({"id": ident, "width": w, "height": h, "file_name": f"{image_id}.jpg"})
        for a in range(int(table.ann_offsets[i]), int(table.ann_offsets[i + 1])):
            attrs = table.attr_ids[table.attr_offsets[a] : table.attr_offsets[a + 1]].tolist()
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": ident,
                    "category_id": taxonomy.class_ids[int(table.category[a])],
                    "attribute_ids": attrs,
                    "segmentation": {"size": [h, w], "counts": table.rle_counts(a)},
                    "area": float(table.areas[a]),
                    "bbox": table.boxes[a].tolist(),
                    "iscrowd": 0,
                }
            )
    vocab = read_json_document(taxonomy_path or PACKAGED_TAXONOMY)
    doc = {
        "info": {"description": f"converted from {Path(csv_path).name} by fashion_core.data.convert"},
        "images": images,
        "annotations": annotations,
        "categories": vocab["categories"],
        "attributes": vocab["attributes"],
    }
    with Path(out_json).open("w") as f:
        json.dump(doc, f)
    return len(annotations)


def results_to_submission(pred_json: str | Path, out_csv: str | Path, gt_json: str | Path | None = None) -> int:
    """Fashionpedia results JSON → Kaggle submission; ``gt_json`` maps image ids to file stems and lists
    every image (those without predictions get a placeholder row). Returns rows written."""
    results = read_json_document(pred_json)
    if not isinstance(results, list):
        raise DataError(pred_json, "document", "json", "expected a list of results")
    names: dict[Any, str] | None = None
    sizes: dict[Any, tuple[int, int]] = {}
    if gt_json is not None:
        names, sizes = _image_names(gt_json)
    preds = []
    image_sizes: list[tuple[int, int] | None] = []
    for index, r in enumerate(results):
        try:
            name = names[r["image_id"]] if names is not None else None
            preds.append(InstancePrediction.from_result(r, name))
            image_sizes.append(sizes.get(r["image_id"]) if sizes else None)
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(
                pred_json,
                f"result index {index}",
                str(e).strip("'") if isinstance(e, KeyError) else "result",
                f"malformed result ({type(e).__name__}: {e})",
            ) from e
    _check_masks(preds, image_sizes, pred_json)
    return write_kaggle_submission(preds, out_csv, image_ids=names.values() if names is not None else None)


def _image_names(gt_json: str | Path) -> tuple[dict[Any, str], dict[Any, tuple[int, int]]]:
    """id -> file stem of every image of a ground-truth/image-info JSON, and id -> (height, width) where given."""
    doc = read_json_document(gt_json)
    images = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(images, list):
        raise DataError(gt_json, "document", "images", "expected a COCO-style object with an 'images' list")
    names: dict[Any, str] = {}
    sizes: dict[Any, tuple[int, int]] = {}
    for index, img in enumerate(images):
        ok = isinstance(img, dict) and isinstance(img.get("file_name"), str) and isinstance(img.get("id"), int | str)
        if not ok:
            raise DataError(
                gt_json, f"image index {index}", "id/file_name", f"expected an id and a file name, got {img!r:.80}"
            )
        names[img["id"]] = Path(img["file_name"]).stem
        h, w = img.get("height"), img.get("width")
        if is_int(h) and is_int(w):
            sizes[img["id"]] = (h, w)
    return names, sizes


def _check_masks(preds: list[InstancePrediction], image_sizes: list[tuple[int, int] | None], path: str | Path) -> None:
    """Finite scores, and masks of their image's size whose counts pycocotools can decode safely (counts
    that do not sum to h*w make its ``decode`` write past the mask)."""
    compressed: list[int] = []
    for index, (pred, image_size) in enumerate(zip(preds, image_sizes)):

        def fail(field: str, problem: str, index: int = index) -> DataError:
            return DataError(path, f"result index {index}", field, problem)

        if not math.isfinite(pred.score):
            raise fail("score", f"expected a finite number, got {pred.score}")
        size, counts = pred.rle.get("size"), pred.rle.get("counts")
        if not (isinstance(size, list | tuple) and len(size) == 2 and all(is_int(v) and v >= 1 for v in size)):
            raise fail("segmentation", f"RLE size must be [height, width], got {size!r:.40}")
        if image_size is not None and tuple(size) != image_size:
            raise fail(
                "segmentation", f"RLE size {list(size)} differs from the image's [height, width] {list(image_size)}"
            )
        if isinstance(counts, str | bytes):
            compressed.append(index)
        elif not (
            isinstance(counts, list) and all(is_int(v) and v >= 0 for v in counts) and sum(counts) == size[0] * size[1]
        ):
            raise fail("segmentation", "RLE counts must be a compressed string or run lengths >= 0 summing to h*w")
    pixels = np.array([preds[i].rle["size"][0] * preds[i].rle["size"][1] for i in compressed], dtype=np.int64)
    bad = first_invalid_rle([preds[i].rle["counts"] for i in compressed], pixels)
    if bad is not None:
        raise DataError(path, f"result index {compressed[bad[0]]}", "segmentation", f"invalid RLE counts: {bad[1]}")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fashion_core.data.convert",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fp2kaggle", help="Fashionpedia JSON -> Kaggle CSV")
    p.add_argument("--json", required=True, help="Fashionpedia ground-truth JSON")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--images", help="image directory; when given, image sizes are checked")
    p.add_argument("--out-labels", help="also write the JSON's taxonomy as a label_descriptions.json here")
    p = sub.add_parser("kaggle2fp", help="Kaggle CSV -> Fashionpedia JSON (compressed RLE)")
    p.add_argument("--csv", required=True, help="Kaggle train.csv")
    p.add_argument("--out-json", required=True)
    p.add_argument("--images", help="image directory; when given, image sizes are checked")
    p.add_argument("--taxonomy", help="label_descriptions.json (default: the packaged Fashionpedia taxonomy)")
    p = sub.add_parser("submission", help="Fashionpedia results JSON -> Kaggle submission CSV")
    p.add_argument("--pred", required=True, help="results JSON (image_id, category_id, segmentation, score, ...)")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--gt", help="ground-truth/image-info JSON mapping image ids to file names")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if args.command == "fp2kaggle":
            n = fashionpedia_to_kaggle(args.json, args.out_csv, args.images, args.out_labels)
        elif args.command == "kaggle2fp":
            n = kaggle_to_fashionpedia(args.csv, args.out_json, args.images, args.taxonomy)
        else:
            n = results_to_submission(args.pred, args.out_csv, args.gt)
    except (DataError, OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {n} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
