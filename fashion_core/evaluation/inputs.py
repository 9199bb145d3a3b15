"""Ground truth and results as the official evaluator sees them, after its index building and ``loadRes``.

The official code does not evaluate the dicts it is given but what ``Fashionpedia.createIndex``,
``Fashionpedia.loadRes`` and ``COCOeval._prepare`` make of them; this module reproduces that view
(see QUIRKS.md, items 1-6) into flat arrays:

* I images (sorted unique ids), K categories (sorted unique ids), N attribute columns;
* M effective ground-truth annotations, grouped by (image, category) in the official order;
* D detections of known categories, in results order, with the area ``loadRes`` gives them.

Bad input raises :class:`EvaluationInputError` instead of the official ``KeyError``/``AssertionError``,
and so does input the official code takes silently although it is wrong: a non-finite score or area, an
image size that is not a positive integer, an RLE whose size is not its image's or whose counts are not
a valid mask of that size (pycocotools would read and write past its buffers on those).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils

from fashion_core.data import first_invalid_rle, segmentation_to_rle

from .errors import EvaluationInputError
from .params import MIN_CATEGORIES

GT = "ground truth"
RES = "results"
IOU_TYPES = ("segm", "bbox")


@dataclass(frozen=True)
class GroundTruth:
    """Official view of a Fashionpedia ground-truth dict.

    Arrays are (M,) over the effective annotations, ordered by (image index, category index) and,
    inside a group, as the official ``_gts`` lists. ``anns`` are the annotation dicts themselves
    (read lazily for ``attribute_ids``). ``geometry`` holds RLEs (segm) or an (M, 4) float64 array (bbox).
    """

    iou_type: str
    image_ids: list[Any]
    image_sizes: list[tuple[int, int] | None]
    category_ids: list[Any]
    attribute_columns: dict[Any, int]
    img: np.ndarray  # (M,) int64 image index
    cat: np.ndarray  # (M,) int64 category index
    area: np.ndarray  # (M,) float64, taken from the file
    ignore: np.ndarray  # (M,) bool, truthiness of iscrowd
    crowd: list[int]  # (M,) int(iscrowd): what the IoU and COCO's crowd re-matching use
    zero_id: np.ndarray  # (M,) bool, id == 0 (a match to it does not count as a true positive)
    anns: list[Mapping[str, Any]]
    geometry: list[Any] | np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    @property
    def num_categories(self) -> int:
        return len(self.category_ids)


@dataclass(frozen=True)
class Detections:
    """Official view of a results list: the D results whose category is in the ground truth, in results order.

    ``index`` is each one's position in the results list (the official id is ``index + 1``).
    ``geometry`` holds RLEs (segm) or a (D, 4) float64 array (bbox).
    """

    img: np.ndarray  # (D,) int64 image index
    cat: np.ndarray  # (D,) int64 category index
    score: np.ndarray  # (D,) float64
    area: np.ndarray  # (D,) float64, as loadRes computes it (bbox w*h when results carry boxes)
    index: np.ndarray  # (D,) int64 position in the results list
    records: list[Mapping[str, Any]]
    geometry: list[Any] | np.ndarray


def _require(obj: Any, key: str, source: str, where: str) -> Any:
    if not isinstance(obj, Mapping):
        raise EvaluationInputError(source, where, f"expected an object, got {type(obj).__name__}")
    if key not in obj:
        raise EvaluationInputError(source, where, f"missing key {key!r}")
    return obj[key]


def _list_field(gt: Mapping[str, Any], key: str) -> list[Any]:
    value = _require(gt, key, GT, "document")
    if not isinstance(value, list):
        raise EvaluationInputError(GT, "document", f"{key!r} must be a list, got {type(value).__name__}")
    return value


def _sorted_unique(values: list[Any], source: str, what: str) -> list[Any]:
    try:
        return sorted(set(values))
    except TypeError as exc:  # mixed id types: np.unique fails the same way in the official code
        raise EvaluationInputError(source, "document", f"{what} ids cannot be sorted: {exc}") from exc


def _number(value: Any, source: str, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise EvaluationInputError(source, where, f"{key!r} must be a number, got {value!r}")
    return float(value)


def _to_rle(segm: Any, size: tuple[int, int] | None, source: str, where: str) -> Any:
    """COCO.annToRLE (``segmentation_to_rle``), with what it cannot take named as an input error."""
    if type(segm) is dict and type(segm.get("counts")) in (str, bytes) and "size" in segm:
        return segm  # compressed RLE, the common case: as is
    polygon = isinstance(segm, list) or (isinstance(segm, Mapping) and isinstance(segm.get("counts"), list))
    if not polygon and not (isinstance(segm, Mapping) and "counts" in segm and "size" in segm):
        raise EvaluationInputError(source, where, f"'segmentation' must be polygons or RLE, got {type(segm).__name__}")
    if polygon and size is None:
        raise EvaluationInputError(source, where, "image has no 'height'/'width' to rasterise the polygon")
    try:
        return segmentation_to_rle(segm, *(size or (0, 0)))
    except Exception as exc:
        raise EvaluationInputError(source, where, f"invalid 'segmentation': {exc}") from exc


def _boxes(values: Sequence[Any], source: str, wheres: Sequence[str]) -> np.ndarray:
    """(n, 4) float64 from [x, y, w, h] lists; names the first bad one."""
    try:
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape == (len(values), 4):
            return arr.reshape(len(values), 4)
    except (TypeError, ValueError):
        pass
    for value, where in zip(values, wheres):
        try:
            ok = np.asarray(value, dtype=np.float64).shape == (4,)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise EvaluationInputError(source, where, f"'bbox' must be [x, y, width, height], got {value!r}")
    return np.zeros((0, 4))


def load_ground_truth(gt: Mapping[str, Any], iou_type: str) -> GroundTruth:
    """The official view of ``gt`` (a Fashionpedia ground-truth dict) for ``iou_type`` ("segm" or "bbox")."""
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {list(IOU_TYPES)} but got {iou_type!r}")
    if not isinstance(gt, Mapping):
        raise EvaluationInputError(GT, "document", f"expected an object, got {type(gt).__name__}")
    images = _list_field(gt, "images")
    annotations = _list_field(gt, "annotations")
    categories = _list_field(gt, "categories")
    attributes = _list_field(gt, "attributes")

    imgs: dict[Any, Mapping[str, Any]] = {}
    img_where: dict[Any, str] = {}
    for i, img in enumerate(images):
        img_id = _require(img, "id", GT, f"image index {i}")
        imgs[img_id] = img  # last wins, as in createIndex
        img_where[img_id] = f"image id {img_id!r} (index {i})"
    image_ids = _sorted_unique(list(imgs), GT, "image")
    category_ids = _sorted_unique(
        [_require(c, "id", GT, f"category index {i}") for i, c in enumerate(categories)], GT, "category"
    )
    if len(category_ids) < MIN_CATEGORIES:
        raise EvaluationInputError(
            GT,
            "categories",
            f"{len(category_ids)} categories; the official Fashionpedia summary indexes the 46 Fashionpedia "
            f"categories (super-category 'p' = indices 27..45) and fails with fewer",
        )
    attribute_columns: dict[Any, int] = {}
    for i, att in enumerate(attributes):
        attribute_columns.setdefault(_require(att, "id", GT, f"attribute index {i}"), len(attribute_columns))

    # createIndex: anns[id] keeps the last annotation with that id; getAnnIds walks images in sorted order
    # and each image's annotations in file order; loadAnns maps every id back through anns[id].
    by_id: dict[Any, Mapping[str, Any]] = {}
    per_image: dict[Any, list[Mapping[str, Any]]] = {}
    for i, ann in enumerate(annotations):
        where = f"annotation index {i}"
        by_id[_require(ann, "id", GT, where)] = ann
        per_image.setdefault(_require(ann, "image_id", GT, where), []).append(ann)
        _require(ann, "category_id", GT, where)
    img_index = {img_id: i for i, img_id in enumerate(image_ids)}
    cat_index = {cat_id: k for k, cat_id in enumerate(category_ids)}
    sizes = [_image_size(imgs[img_id], img_where[img_id]) for img_id in image_ids]

    effective: list[tuple[int, int, Mapping[str, Any]]] = []
    for img_id in image_ids:
        for ann in per_image.get(img_id, []):
            if ann["category_id"] not in cat_index:
                continue
            eff = by_id[ann["id"]]
            i_eff, k_eff = img_index.get(eff["image_id"]), cat_index.get(eff["category_id"])
            if i_eff is not None and k_eff is not None:  # otherwise its group is never visited
                effective.append((i_eff, k_eff, eff))
    # Group by (image, category) keeping the official order inside each group (stable sort).
    order = sorted(range(len(effective)), key=lambda j: (effective[j][0], effective[j][1]))
    effective = [effective[j] for j in order]

    anns = [e[2] for e in effective]
    wheres = [f"annotation id {a['id']!r}" for a in anns]
    area = np.array(
        [_number(_require(a, "area", GT, w), GT, w, "area") for a, w in zip(anns, wheres)], dtype=np.float64
    )
    if not (np.isfinite(area) & (area >= 0)).all():
        j = int(np.flatnonzero(~(np.isfinite(area) & (area >= 0)))[0])
        raise EvaluationInputError(GT, wheres[j], f"'area' must be finite and >= 0, got {float(area[j])}")
    crowd_raw = [_require(a, "iscrowd", GT, w) for a, w in zip(anns, wheres)]
    try:
        crowd = [int(c) for c in crowd_raw]
    except (TypeError, ValueError) as exc:
        raise EvaluationInputError(GT, "annotations", f"'iscrowd' must be 0 or 1: {exc}") from exc
    ids = [a["id"] for a in anns]
    geometry: list[Any] | np.ndarray
    if iou_type == "segm":
        geometry = [
            _to_rle(_require(a, "segmentation", GT, w), sizes[e[0]], GT, w) for a, w, e in zip(anns, wheres, effective)
        ]
        check_masks(geometry, _size_array(sizes)[[e[0] for e in effective]], GT, wheres.__getitem__)
    else:
        geometry = _boxes([_require(a, "bbox", GT, w) for a, w in zip(anns, wheres)], GT, wheres)
    return GroundTruth(
        iou_type=iou_type,
        image_ids=image_ids,
        image_sizes=sizes,
        category_ids=category_ids,
        attribute_columns=attribute_columns,
        img=np.array([e[0] for e in effective], dtype=np.int64),
        cat=np.array([e[1] for e in effective], dtype=np.int64),
        area=area,
        ignore=np.array([bool(c) for c in crowd_raw], dtype=bool),
        crowd=crowd,
        zero_id=np.array([_is_zero(i) for i in ids], dtype=bool),
        anns=anns,
        geometry=geometry,
    )


def _is_zero(value: Any) -> bool:
    # The official code stores matched gt ids in a float array and tests them for truth.
    try:
        return float(value) == 0.0
    except (TypeError, ValueError) as exc:
        raise EvaluationInputError(GT, f"annotation id {value!r}", "ids must be numbers") from exc


def _image_size(img: Mapping[str, Any], where: str) -> tuple[int, int] | None:
    """(height, width) when the image gives both; each given one must be a positive integer."""
    for key in ("height", "width"):
        value = img.get(key, 1)
        integral = isinstance(value, int | np.integer) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not integral or value < 1:
            raise EvaluationInputError(GT, where, f"{key!r} must be a positive integer, got {value!r}")
    if "height" in img and "width" in img:
        return int(img["height"]), int(img["width"])
    return None


def _size_array(sizes: Sequence[tuple[int, int] | None]) -> np.ndarray:
    """(I, 2) int64 image sizes, -1 where unknown."""
    return np.array([s if s is not None else (-1, -1) for s in sizes], dtype=np.int64).reshape(len(sizes), 2)


def check_masks(rles: Sequence[Any], image_sizes: np.ndarray, source: str, where: Callable[[int], str]) -> None:
    """Every one of n compressed RLEs is a mask of its image: ``size`` [h, w] equal to ``image_sizes[j]``
    ((n, 2), -1 where the image gives no size) and counts that decode to exactly h*w pixels.

    pycocotools checks neither: a wrong ``size`` makes every IoU -1 (silently unmatched) and counts that
    do not sum to h*w make ``iou``/``decode`` read and write past their buffers.
    """
    if not rles:
        return
    try:
        sizes = [r["size"] for r in rles]
        counts = [r["counts"] for r in rles]
        flat = [v for s in sizes for v in s]
        plain = set(map(type, flat)) <= {int} and set(map(type, counts)) <= {str, bytes}
        arr = np.asarray(sizes, dtype=np.int64) if plain else None
    except (KeyError, TypeError, ValueError, OverflowError):
        arr = None
    if arr is None or arr.shape != (len(rles), 2) or (arr < 1).any():
        for j, r in enumerate(rles):  # rare (or numpy ints): one by one, naming the first bad one
            if not isinstance(r, Mapping):
                raise EvaluationInputError(
                    source, where(j), f"'segmentation' must be compressed RLE {{size, counts}}, got {type(r).__name__}"
                )
            size = r.get("size")
            if not (isinstance(size, list | tuple) and len(size) == 2 and all(_is_count(v) and v >= 1 for v in size)):
                raise EvaluationInputError(source, where(j), f"RLE 'size' must be [height, width], got {size!r}")
            if not isinstance(r.get("counts"), str | bytes):
                raise EvaluationInputError(source, where(j), "RLE 'counts' must be a compressed RLE string")
        arr = np.array([[int(v) for v in s] for s in sizes], dtype=np.int64)
    known = image_sizes[:, 0] >= 0
    wrong = np.flatnonzero(known & (arr != image_sizes).any(axis=1))
    if wrong.size:
        j = int(wrong[0])
        raise EvaluationInputError(
            source,
            where(j),
            f"RLE size {list(sizes[j])} differs from its image's [height, width] {image_sizes[j].tolist()}",
        )
    bad = first_invalid_rle(counts, arr[:, 0] * arr[:, 1])
    if bad is not None:
        raise EvaluationInputError(source, where(bad[0]), f"invalid RLE counts: {bad[1]}")


def _is_count(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _column(rows: Sequence[Any], key: str, source: str, wheres: Sequence[str] | None = None) -> list[Any]:
    """``[row[key] for row in rows]``; on a missing key or a non-object, the error names the first bad row."""
    try:
        return [r[key] for r in rows]
    except (KeyError, TypeError, IndexError):
        for j, r in enumerate(rows):
            _require(r, key, source, wheres[j] if wheres is not None else f"result index {j}")
        raise


def _numbers(values: list[Any], source: str, wheres: Sequence[str], key: str) -> np.ndarray:
    """(n,) float64 of plain numbers (strings and bools are rejected, as the official negation would)."""
    if set(map(type, values)) <= {int, float, np.float64, np.float32, np.int64, np.int32}:
        return np.asarray(values, dtype=np.float64)
    return np.array([_number(v, source, w, key) for v, w in zip(values, wheres)], dtype=np.float64)


def load_results(results: Sequence[Mapping[str, Any]], gt: GroundTruth) -> Detections:
    """The official view (``Fashionpedia.loadRes`` + ``_prepare``) of a results list against ``gt``.

    Whether results are read as boxes or masks is decided by the *first* result, as in ``loadRes``:
    if it has a non-empty ``bbox`` every result's area is its box's w*h (even for segm evaluation) and a
    missing segmentation becomes the box polygon; otherwise every result needs a compressed-RLE
    ``segmentation``, whose pixel count is the area, and a missing box is the mask's bounding box.
    """
    if not isinstance(results, list):
        raise EvaluationInputError(RES, "document", f"expected a list of results, got {type(results).__name__}")
    img, cat = _image_and_category(results, gt)
    if not results:
        return detections_from_columns(gt, img, cat, np.zeros(0), None, None, records=[])
    first = results[0]
    boxes_branch = isinstance(first, Mapping) and "bbox" in first and first["bbox"] != []
    if not boxes_branch and not (isinstance(first, Mapping) and "segmentation" in first):
        raise EvaluationInputError(RES, "result index 0", "has neither 'bbox' nor 'segmentation'")
    known = np.flatnonzero(cat >= 0)
    records = [results[j] for j in known]
    wheres = [f"result index {j}" for j in known]
    scores = _numbers(_column(records, "score", RES, wheres), RES, wheres, "score")
    boxes: np.ndarray | None = None
    segms: list[Any] | None = None
    if boxes_branch:
        all_wheres = [f"result index {j}" for j in range(len(results))]
        boxes = _boxes(_column(results, "bbox", RES), RES, all_wheres)
        segms = [r.get("segmentation") for r in results]
    else:
        segms = _column(results, "segmentation", RES)
    return detections_from_columns(
        gt,
        img,
        cat,
        scores,
        segms,
        boxes,
        records=records,
        given_boxes=None if boxes_branch else [r.get("bbox") for r in records],
    )


def _image_and_category(results: Sequence[Any], gt: GroundTruth) -> tuple[np.ndarray, np.ndarray]:
    """(n,) image index (unknown image: error, the official assertion) and category index (-1: unknown)."""
    img_index = {img_id: i for i, img_id in enumerate(gt.image_ids)}
    cat_index = {cat_id: k for k, cat_id in enumerate(gt.category_ids)}
    image_ids = _column(results, "image_id", RES)
    category_ids = _column(results, "category_id", RES)
    try:
        img = np.array([img_index.get(i, -1) for i in image_ids], dtype=np.int64)
        cat = np.array([cat_index.get(c, -1) for c in category_ids], dtype=np.int64)
    except TypeError as exc:  # unhashable ids
        raise EvaluationInputError(RES, "image_id/category_id", f"ids must be numbers or strings ({exc})") from exc
    if (img < 0).any():
        j = int(np.flatnonzero(img < 0)[0])
        raise EvaluationInputError(
            RES, f"result index {j}", f"image_id {image_ids[j]!r} is not an image of the ground truth"
        )
    return img, cat


def detections_from_columns(
    gt: GroundTruth,
    img: np.ndarray,
    cat: np.ndarray,
    scores: np.ndarray,
    segmentations: Sequence[Any] | None,
    boxes: np.ndarray | None,
    *,
    records: list[Mapping[str, Any]] | None = None,
    given_boxes: Sequence[Any] | None = None,
) -> Detections:
    """:class:`Detections` from columns over all n results (``scores`` only over known categories).

    ``boxes`` (n, 4) not None is ``loadRes``' box branch (area = w*h; a None segmentation becomes the
    box polygon); otherwise every segmentation is compressed RLE (area = pixel count) and the box of
    result j is ``given_boxes[j]`` when not None, else the mask's bounding box.
    """
    known = np.flatnonzero(cat >= 0)
    n = len(cat)
    if not np.isfinite(scores).all():  # the official sort puts NaN anywhere: refused, not ranked
        i = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise EvaluationInputError(RES, _result_where(int(known[i])), f"'score' must be finite, got {float(scores[i])}")
    if n == 0:
        return Detections(
            img=img,
            cat=cat,
            score=scores,
            area=np.zeros(0),
            index=known,
            records=records or [],
            geometry=[] if gt.iou_type == "segm" else np.zeros((0, 4)),
        )
    if boxes is not None:
        area = boxes[:, 2] * boxes[:, 3]
    else:
        assert segmentations is not None
        check_masks(segmentations, _size_array(gt.image_sizes)[img], RES, _result_where)
        try:
            area = rle_areas(segmentations).reshape(n)
        except Exception as exc:
            raise EvaluationInputError(RES, "segmentation", f"must be compressed RLE ({exc})") from exc
    geometry: list[Any] | np.ndarray
    if gt.iou_type == "segm":
        assert segmentations is not None
        if boxes is None:
            geometry = [segmentations[j] for j in known.tolist()]
        else:
            geometry = [
                _to_rle(
                    segmentations[j] if segmentations[j] is not None else [_box_polygon(boxes[j])],
                    gt.image_sizes[img[j]],
                    RES,
                    f"result index {j}",
                )
                for j in known.tolist()
            ]
            check_masks(geometry, _size_array(gt.image_sizes)[img[known]], RES, lambda i: _result_where(int(known[i])))
    elif boxes is not None:
        geometry = boxes[known]
    else:
        assert segmentations is not None
        given = given_boxes if given_boxes is not None else [None] * len(known)
        missing = [i for i, b in enumerate(given) if b is None]
        present = [i for i, b in enumerate(given) if b is not None]
        geometry = np.zeros((len(known), 4))
        if missing:
            geometry[missing] = mask_utils.toBbox([segmentations[known[i]] for i in missing])
        if present:
            geometry[present] = _boxes([given[i] for i in present], RES, [f"result index {known[i]}" for i in present])
    return Detections(
        img=img[known],
        cat=cat[known],
        score=scores,
        area=area[known],
        index=known,
        records=records if records is not None else [],
        geometry=geometry,
    )


# pycocotools' ``area`` allocates a throw-away ``np.array((n,), dtype=np.uint8)`` before filling its
# result, which numpy >= 2 refuses for n > 255 ("OverflowError: Python integer 278 out of bounds for
# uint8"). Calls on at most this many RLEs are safe. ``toBbox``, ``iou``, ``merge``, ``decode``,
# ``encode`` and ``frPyObjects`` allocate float or object arrays and take any n (tests/evaluation).
_AREA_CHUNK = 255


def rle_areas(rles: Sequence[Any]) -> np.ndarray:
    """(n,) float64 pixel counts of n compressed RLEs, as ``pycocotools.mask.area`` on the list.

    Called on chunks of at most 255 RLEs to dodge the numpy-2 overflow above.
    """
    rles = list(rles)
    parts = [
        np.asarray(mask_utils.area(rles[i : i + _AREA_CHUNK]), dtype=np.float64).reshape(-1)
        for i in range(0, len(rles), _AREA_CHUNK)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def _result_where(j: int) -> str:
    return f"result index {j}"


def _box_polygon(box: np.ndarray) -> list[float]:
    """loadRes' polygon for a result without segmentation: corners (x1,y1),(x1,y2),(x2,y2),(x2,y1)."""
    x1, y1 = box[0], box[1]
    x2, y2 = box[0] + box[2], box[1] + box[3]
    return [float(v) for v in (x1, y1, x1, y2, x2, y2, x2, y1)]
