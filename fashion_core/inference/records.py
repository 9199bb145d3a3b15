"""Image ids of a prediction run (file stems, or the ground truth's ids by file name) and its evaluation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from fashion_core.data import DataError, Taxonomy, load_taxonomy
from fashion_core.evaluation import evaluate_fashionpedia
from fashion_core.evaluation.errors import EvaluationInputError
from fashion_core.evaluation.inputs import IOU_TYPES

from .images import ImageInputError, ImageRecord


def image_records(paths: Sequence[Path], gt: Mapping[str, Any] | None, gt_name: str | None = None) -> list[ImageRecord]:
    """One record per path. Without ground truth the id is the file stem (Kaggle's ImageId); with it, the
    id of the ground-truth image whose ``file_name`` has the same base name.

    Raises :class:`ImageInputError` on two inputs with one stem (Kaggle ImageIds must be unique), on an
    input the ground truth does not list, or on a ground truth that lists one base name twice.
    """
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            raise ImageInputError(f"{p} and {stems[p.stem]}: two images with the image id {p.stem!r}")
        stems[p.stem] = p
    if gt is None:
        return [ImageRecord(p, p.stem) for p in paths]
    images = gt.get("images") if isinstance(gt, Mapping) else None
    if not isinstance(images, list):
        raise EvaluationInputError(f"ground truth {gt_name}", "document", "missing list 'images'")
    by_name: dict[str, Any] = {}
    for i, img in enumerate(images):
        if not isinstance(img, Mapping) or "id" not in img or "file_name" not in img:
            raise EvaluationInputError(f"ground truth {gt_name}", f"image index {i}", "needs 'id' and 'file_name'")
        # PurePath: a Windows- or POSIX-style relative path in file_name keeps only its last part.
        name = PurePath(str(img["file_name"]).replace("\\", "/")).name
        if name in by_name:
            where = f"image id {img['id']!r}"
            raise EvaluationInputError(f"ground truth {gt_name}", where, f"file name {name!r} twice")
        by_name[name] = img["id"]
    unknown = [p for p in paths if p.name not in by_name]
    if unknown:
        raise ImageInputError(
            f"{unknown[0]}: not an image of the ground truth {gt_name} (matched by file name; "
            f"{len(unknown)} of {len(paths)} inputs are not in it)"
        )
    return [ImageRecord(p, by_name[p.name]) for p in paths]


def evaluate_results(
    gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]], gt_name: str | None = None
) -> dict[str, dict[str, float]]:
    """``{"segm": {...}, "bbox": {...}}`` official AP^{IoU+F1} numbers; bbox only when every gt annotation has one."""
    anns = gt.get("annotations", [])
    types = [t for t in IOU_TYPES if t == "segm" or all(isinstance(a, Mapping) and "bbox" in a for a in anns)]
    try:
        return {t: evaluate_fashionpedia(gt, results, t) for t in types}
    except EvaluationInputError as exc:
        source = f"{exc.source} {gt_name}" if exc.source == "ground truth" else exc.source
        raise EvaluationInputError(source, exc.where, exc.problem) from exc


def check_taxonomy(gt: Mapping[str, Any], gt_name: str, model: Taxonomy) -> None:
    """Refuse a ground truth of another taxonomy than the model's, naming both, before anything is predicted.

    The model predicts the classes and attributes of ``model`` by their raw ids; a ground truth that lacks one of
    them is of another taxonomy (another Fashionpedia version, another year's Kaggle labels): the evaluator would
    refuse the first such attribute only after every image was predicted, or count such classes as misses.
    Names are not compared: a ground truth written from dataset dicts names each id by its number.

    Raises:
        EvaluationInputError: one line with both taxonomies' sizes and sources, and the first ids it lacks.
    """
    try:
        theirs = load_taxonomy(gt)
    except DataError as exc:  # no categories/attributes lists: say what is missing, before predicting
        raise EvaluationInputError(f"ground truth {gt_name}", "document", exc.problem) from None
    lacks = []
    for kind, ids, names, their_ids in (
        ("class", model.class_ids, model.class_names, set(theirs.class_ids)),
        ("attribute", model.attribute_ids, model.attribute_names, set(theirs.attribute_ids)),
    ):
        missing = [(i, name) for i, name in zip(ids, names) if i not in their_ids]
        if missing:
            first = ", ".join(f"{i} ({name!r})" for i, name in missing[:2])
            lacks.append(f"{len(missing)} of the model's {kind} ids, e.g. {first}")
    if not lacks:
        return
    info: Mapping[str, Any] = gt["info"] if isinstance(gt.get("info"), Mapping) else {}
    described = "; ".join(f"{k} {str(info[k])[:60]!r}" for k in ("description", "version") if info.get(k))
    raise EvaluationInputError(
        f"ground truth {gt_name}", "document",
        f"another taxonomy than the model's: the ground truth's {theirs.num_classes} classes and "
        f"{theirs.num_attributes} attributes{f' ({described})' if described else ''} against the model's "
        f"{model.num_classes} classes and {model.num_attributes} attributes ({PurePath(model.source).name}); "
        f"it lacks {' and '.join(lacks)} (evaluate with a ground truth of the model's taxonomy)",
    )
