"""Load Kaggle iMaterialist (Fashion) 2020 ``train.csv`` + ``train/<ImageId>.jpg`` as detectron2 dicts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fashion_core.data._arrays import ragged_index, ragged_offsets
from fashion_core.data._cache import cache_entry, cache_key, ensure_cache_dir, load_table, save_table
from fashion_core.data._errors import DataError, csv_row
from fashion_core.data._images import name_problem, read_image_sizes, size_problem
from fashion_core.data._kaggle_csv import ParsedRows, parse_kaggle_csv
from fashion_core.data._report import LoadReport, OnError, ProblemLog
from fashion_core.data._table import AnnotationTable, TableDicts
from fashion_core.data._taxonomy import Taxonomy, load_taxonomy

logger = logging.getLogger(__name__)


def load_kaggle_dataset(
    csv_path: str | Path,
    image_dir: str | Path,
    *,
    taxonomy: Taxonomy | None = None,
    max_images: int | None = None,
    on_error: OnError = "raise",
    check_images: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> tuple[TableDicts, LoadReport]:
    """Parse and validate a Kaggle CSV: detectron2 dataset dicts (built on access) and what was loaded and skipped.

    The dicts are a ``TableDicts``; its ``table`` holds the parsed columns, which are cached under
    ``cache_dir`` when given.
    taxonomy: None uses the packaged Fashionpedia taxonomy.
    max_images: keep only the first N distinct ImageIds in file order (cheap, deterministic; use
        ``subset_images`` for a seeded random subset).
    on_error: "raise" the first DataError, or "skip" bad rows (and images whose file is missing or has
        another size) and log a summary; the report counts them.
    check_images: compare Height/Width with each image file's header (no pixel decode).
    """
    path = Path(csv_path)
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be a positive integer or None, got {max_images!r}")
    taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
    problems = ProblemLog(on_error)  # validates on_error before any work
    if not path.is_file():
        raise DataError(path, "header", "file", "CSV file not found")
    options = {
        "image_dir": str(Path(image_dir).resolve()),
        "max_images": max_images,
        "on_error": on_error,
        "check_images": check_images,
        # Adding or removing image files changes the directory's mtime: checked results then go stale.
        "image_dir_mtime_ns": _mtime_ns(Path(image_dir)) if check_images else None,
        "taxonomy": [taxonomy.class_ids, taxonomy.attribute_ids],
    }
    key = cache_key(path, options)
    cached_at = cache_entry(ensure_cache_dir(cache_dir), key) if cache_dir is not None else None
    if cached_at is not None and (hit := load_table(cached_at, key)) is not None:
        return hit[0].to_dicts(image_dir), hit[1]
    parsed = parse_kaggle_csv(path, taxonomy, problems, max_images=max_images, progress=progress)
    table, first_rows = _group_by_image(parsed, path, problems)
    table = _check_image_ids(table, first_rows, path, problems)
    if check_images:
        table = _check_image_files(table, first_rows, Path(image_dir), path, problems, progress)
    if table.num_annotations == 0:
        raise DataError(
            path,
            "all rows",
            "EncodedPixels",
            f"no valid annotations ({parsed.rows_selected} rows read, {problems.rows_skipped} skipped)",
        )
    report = problems.finish(
        str(path),
        parsed.rows_selected,
        table.num_annotations,
        table.num_images,
        parsed.images_selected() - table.num_images,
    )
    if cached_at is not None:
        try:
            save_table(cached_at, table, key, report)
        except OSError as e:  # a full disk or a folder removed meanwhile: keep the parsed table
            logger.warning("cannot write the cache %s (%s); the next load parses %s again", cached_at, e, path.name)
    return table.to_dicts(image_dir), report


def _group_by_image(parsed: ParsedRows, path: Path, problems: ProblemLog) -> tuple[AnnotationTable, np.ndarray]:
    """Order rows by image (first appearance, then file order) and check Height/Width agree within an image.

    Returns the table and (I,) the CSV row number of each image's first row, which defines its size.
    """
    # Arrow numbers the distinct ids in order of first appearance, as the dataset order wants.
    ids = pa.chunked_array(parsed.image_ids, type=pa.string()).combine_chunks().dictionary_encode()
    codes = ids.indices.to_numpy().astype(np.int64)
    image_ids: list[str] = ids.dictionary.to_pylist()
    rows, heights, widths = (_cat(parsed.rows), _cat(parsed.heights), _cat(parsed.widths))
    first = np.full(len(image_ids), codes.size, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(codes.size))
    bad = (heights != heights[first][codes]) | (widths != widths[first][codes])
    for i in np.flatnonzero(bad).tolist():
        ref = first[codes[i]]
        name, got, want = (
            ("Height", heights[i], heights[ref]) if heights[i] != heights[ref] else ("Width", widths[i], widths[ref])
        )
        problems.report(
            DataError(
                path,
                csv_row(int(rows[i]), image_ids[codes[i]]),
                name,
                f"{got} disagrees with {want} on row {rows[ref]} of the same image",
            )
        )
    keep = np.flatnonzero(~bad)
    order = keep[np.argsort(codes[keep], kind="stable")]
    attr_offsets = np.zeros(codes.size + 1, dtype=np.int64)
    np.cumsum(_cat(parsed.attr_counts), out=attr_offsets[1:])
    attr_ids = _cat(parsed.attr_ids)
    ann_offsets = np.zeros(len(image_ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes[keep], minlength=len(image_ids)), out=ann_offsets[1:])
    sorted_attr = ragged_index(attr_offsets, order)
    new_attr_offsets = np.zeros(order.size + 1, dtype=np.int64)
    np.cumsum(np.diff(attr_offsets)[order], out=new_attr_offsets[1:])
    table = AnnotationTable(
        image_ids=image_ids,
        heights=heights[first],
        widths=widths[first],
        ann_offsets=ann_offsets,
        category=_cat(parsed.category)[order],
        boxes=_cat(parsed.boxes, (0, 4))[order],
        areas=_cat(parsed.areas)[order],
        **_reorder_rles(parsed, order),
        attr_offsets=new_attr_offsets,
        attr_ids=attr_ids[sorted_attr],
    )
    return table, rows[first]


def _check_image_ids(
    table: AnnotationTable, first_rows: np.ndarray, path: Path, problems: ProblemLog
) -> AnnotationTable:
    """Drop (skip mode) or raise on ImageIds that are paths (``../x``, ``/etc/x``): a file outside the image folder."""
    keep = np.ones(table.num_images, dtype=bool)
    n_ann = np.diff(table.ann_offsets)
    for i, image_id in enumerate(table.image_ids):
        problem = name_problem(str(image_id))
        if problem is not None:
            where = csv_row(int(first_rows[i]), image_id)
            problems.report(DataError(path, where, "ImageId", problem), rows=int(n_ann[i]))
            keep[i] = False
    return table if keep.all() else table.select_images(keep)


def _check_image_files(
    table: AnnotationTable,
    first_rows: np.ndarray,
    image_dir: Path,
    path: Path,
    problems: ProblemLog,
    progress: bool,
) -> AnnotationTable:
    """Drop (skip mode) or raise on images whose file is missing, unreadable or of another size."""
    files = [image_dir / f"{i}.jpg" for i in table.image_ids]
    found = read_image_sizes(files, progress=progress)
    keep = np.ones(table.num_images, dtype=bool)
    n_ann = np.diff(table.ann_offsets)
    for i, (file, size) in enumerate(zip(files, found)):
        problem = size_problem(file, size, int(table.heights[i]), int(table.widths[i]))
        if problem is not None:
            field = "ImageId" if isinstance(size, str) else "Height/Width"
            problems.report(
                DataError(path, csv_row(int(first_rows[i]), table.image_ids[i]), field, problem),
                rows=int(n_ann[i]),
            )
            keep[i] = False
    return table if keep.all() else table.select_images(keep)


def _reorder_rles(parsed: ParsedRows, order: np.ndarray) -> dict[str, Any]:
    """The rows' compressed RLEs in ``order`` as AnnotationTable's rle_chars/rle_offsets."""
    chars = np.frombuffer(parsed.rle_chars, dtype=np.uint8)
    lengths = _cat(parsed.rle_lengths).astype(np.int64, copy=False)
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if order.size == lengths.size and (np.diff(order) == 1).all():
        return {"rle_chars": chars, "rle_offsets": offsets}  # already in image order (sorted files)
    return {"rle_chars": chars[ragged_index(offsets, order)], "rle_offsets": ragged_offsets(offsets, order)}


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _cat(parts: list[np.ndarray], empty_shape: tuple[int, ...] = (0,)) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(empty_shape)
