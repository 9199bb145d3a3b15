"""Load Fashionpedia ground truth (COCO instances JSON + ``attribute_ids``) as detectron2 dataset dicts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fashion_core.data._errors import DataError, read_json_document
from fashion_core.data._fp_annotations import convert_annotation, is_int
from fashion_core.data._images import name_problem, read_image_sizes, size_problem
from fashion_core.data._report import LoadReport, OnError, ProblemLog
from fashion_core.data._table import DatasetDict
from fashion_core.data._taxonomy import Taxonomy, load_taxonomy, taxonomy_from_dict


def load_fashionpedia_dataset(
    json_path: str | Path,
    image_dir: str | Path,
    *,
    taxonomy: Taxonomy | None = None,
    max_images: int | None = None,
    on_error: OnError = "raise",
    check_images: bool = True,
    progress: bool = True,
) -> tuple[list[DatasetDict], LoadReport]:
    """Validate and convert every image and annotation; returns the dicts and what was skipped.

    taxonomy: None uses the file's own ``categories``/``attributes`` when present, else the packaged one.
    max_images: keep the first N images in file order. Images without annotations are kept (evaluation
        needs them; detectron2's training loader filters them out itself).
    Segmentations stay as they are (polygon lists, compressed RLE) except uncompressed RLE, which is
    compressed; ``bbox``/``area`` come from the file when present, else from the mask.
    """
    path = Path(json_path)
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be a positive integer or None, got {max_images!r}")
    problems = ProblemLog(on_error)
    doc = _read_json(path)
    if taxonomy is None:
        has_own = "categories" in doc and "attributes" in doc
        taxonomy = taxonomy_from_dict(doc, str(path)) if has_own else load_taxonomy()
    images, invalid_images = _valid_images(doc, path, problems, max_images)
    anns = doc.get("annotations")
    if not isinstance(anns, list):
        raise DataError(path, "document", "annotations", f"expected a list, got {type(anns).__name__}")
    per_image: dict[int, list[dict[str, Any]]] = {image_id: [] for image_id in images}
    all_image_ids = {img.get("id") for img in doc["images"] if isinstance(img, Mapping)}
    rows_total = 0
    for index, ann in enumerate(anns):
        image_id = ann.get("image_id") if isinstance(ann, Mapping) else None
        if image_id in invalid_images:
            rows_total += 1
            problems.count_skipped("image", 1)
            continue
        if image_id in all_image_ids and image_id not in per_image:
            continue  # an image left out by max_images
        rows_total += 1
        try:
            if image_id not in per_image:
                raise DataError(path, _where(ann, index), "image_id", f"unknown image id {image_id!r}")
            h, w = images[image_id]["height"], images[image_id]["width"]
            per_image[image_id].append(convert_annotation(ann, index, h, w, taxonomy, path))
        except DataError as e:
            problems.report(e)
    kept = _check_files(images, per_image, Path(image_dir), path, problems, check_images, progress)
    dicts = [
        {
            **images[image_id],
            "file_name": str(Path(image_dir) / images[image_id]["file_name"]),
            "annotations": per_image[image_id],
        }
        for image_id in kept
    ]
    n_ann = sum(len(d["annotations"]) for d in dicts)
    if not dicts:
        raise DataError(path, "document", "images", "no valid images")
    report = problems.finish(str(path), rows_total, n_ann, len(dicts), _count_images(doc, max_images) - len(dicts))
    return dicts, report


def _read_json(path: Path) -> dict[str, Any]:
    doc = read_json_document(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise DataError(path, "document", "images", "expected a COCO-style object with an 'images' list")
    return doc


def _where(ann: Any, index: int) -> str:
    ident = ann.get("id") if isinstance(ann, Mapping) else None
    return f"annotation id {ident} (index {index})" if ident is not None else f"annotation index {index}"


def _valid_images(
    doc: dict[str, Any], path: Path, problems: ProblemLog, max_images: int | None
) -> tuple[dict[int, dict[str, Any]], set[Any]]:
    """id → {image_id, file_name, height, width} of the first ``max_images`` images; and the invalid ids."""
    out: dict[int, dict[str, Any]] = {}
    invalid: set[Any] = set()
    for index, img in enumerate(doc["images"][:max_images] if max_images else doc["images"]):
        image_id = img.get("id") if isinstance(img, Mapping) else None
        where = f"image id {image_id} (index {index})"
        try:
            if not is_int(image_id) or image_id in out:
                raise DataError(path, where, "id", "expected a unique integer id")
            for key in ("height", "width"):
                if not is_int(img.get(key)) or img[key] < 1:
                    raise DataError(path, where, key, f"expected a positive integer, got {img.get(key)!r}")
            if not isinstance(img.get("file_name"), str) or not img["file_name"]:
                raise DataError(path, where, "file_name", f"expected a file name, got {img.get('file_name')!r}")
            if (problem := name_problem(img["file_name"], subfolders=True)) is not None:
                raise DataError(path, where, "file_name", problem)
        except DataError as e:
            problems.report(e, rows=0)
            if isinstance(image_id, int | str):
                invalid.add(image_id)
            continue
        out[image_id] = {
            "image_id": image_id,
            "file_name": img["file_name"],
            "height": img["height"],
            "width": img["width"],
        }
    return out, invalid - set(out)


def _check_files(
    images: dict[int, dict[str, Any]],
    per_image: dict[int, list[dict[str, Any]]],
    image_dir: Path,
    path: Path,
    problems: ProblemLog,
    check_images: bool,
    progress: bool,
) -> list[int]:
    """Image ids to keep: all, or (check_images) those whose file header matches height/width."""
    ids = list(images)
    if not check_images:
        return ids
    files = [image_dir / images[i]["file_name"] for i in ids]
    kept = []
    for image_id, file, found in zip(ids, files, read_image_sizes(files, progress=progress)):
        problem = size_problem(file, found, images[image_id]["height"], images[image_id]["width"])
        if problem is None:
            kept.append(image_id)
        else:
            field = "file_name" if isinstance(found, str) else "height/width"
            where = f"image id {image_id}"
            problems.report(DataError(path, where, field, problem), rows=len(per_image[image_id]))
    return kept


def _count_images(doc: dict[str, Any], max_images: int | None) -> int:
    return min(len(doc["images"]), max_images) if max_images else len(doc["images"])
