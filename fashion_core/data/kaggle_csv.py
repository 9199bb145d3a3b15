"""Stream a Kaggle ``train.csv`` in blocks and validate and convert each block with whole-column operations.

The file is never held in memory at once: pyarrow hands over blocks of a few thousand rows, each is
checked field by field (vectorized), its RLEs converted in one batch, and only compact columns are kept.
"""

from __future__ import annotations

import csv
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from tqdm import tqdm

from fashion_core.data.errors import DataError, csv_row
from fashion_core.data.report import ProblemLog
from fashion_core.data.rle import check_kaggle_rle, kaggle_batch_to_coco
from fashion_core.data.taxonomy import Taxonomy

REQUIRED_COLUMNS = ("ImageId", "EncodedPixels", "Height", "Width", "ClassId", "AttributesIds")
# ~4 MB blocks (~2k rows of real data): big enough to amortise per-call overhead, small enough that
# the int64 temporaries stay in cache and memory stays flat.
BLOCK_BYTES = 4 << 20
MAX_SIDE = 100_000
# numpy's text parser, numpy ufuncs and pyarrow kernels release the GIL, so two threads nearly double
# throughput on the two-core laptops this must run on; more threads only add memory.
CONVERT_THREADS = 2


@dataclass
class ParsedRows:
    """Accumulated valid rows, in file order: (R,) columns, attributes as flat ids + per-row counts."""

    image_ids: list[str] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    heights: list[np.ndarray] = field(default_factory=list)
    widths: list[np.ndarray] = field(default_factory=list)
    category: list[np.ndarray] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    areas: list[np.ndarray] = field(default_factory=list)
    rle_counts: list[bytes] = field(default_factory=list)  # compressed COCO counts (ASCII)
    attr_ids: list[np.ndarray] = field(default_factory=list)
    attr_counts: list[np.ndarray] = field(default_factory=list)
    rows_total: int = 0  # every data row read, for row numbers
    rows_selected: int = 0  # rows of the images kept by max_images
    image_ids_seen: dict[str, None] = field(default_factory=dict)  # for max_images, in file order
    images_selected: set[str] = field(default_factory=set)  # distinct ImageIds of the selected rows


def read_header(path: Path) -> list[str]:
    """Column names of the CSV; DataError when the file is missing or lacks a required column."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
    except OSError as e:
        raise DataError(path, "header", "file", f"cannot read CSV: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise DataError(path, "header", "encoding", f"not UTF-8 text: {e}") from e
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(path, "header", missing[0], f"missing required column(s) {missing}; found {header}")
    return header


def parse_kaggle_csv(
    path: Path, taxonomy: Taxonomy, problems: ProblemLog, *, max_images: int | None, progress: bool
) -> ParsedRows:
    """Read, validate and convert every row; bad rows go to ``problems`` (raise or skip), in file order."""
    read_header(path)
    out = ParsedRows()
    bad_lines: list[str] = []

    def on_invalid_line(row: Any) -> str:
        # Row numbers are not known inside pyarrow's block parser, so name the line by its text.
        bad_lines.append(f"{row.text[:80]!r} has {row.actual_columns} columns, expected {row.expected_columns}")
        return "skip"

    with (
        path.open("rb") as raw,
        tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=f"reading {path.name}",
            disable=not progress,
        ) as bar,
        ThreadPoolExecutor(CONVERT_THREADS) as pool,
    ):
        reader = pacsv.open_csv(
            _ProgressFile(raw, bar),
            read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid_line),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(REQUIRED_COLUMNS),
                column_types=dict.fromkeys(REQUIRED_COLUMNS, pa.string()),
            ),
        )
        pending: deque[Future[_Block]] = deque()
        for batch in reader:
            if bad_lines:
                while pending:  # earlier rows first, so "raise" names the first problem in the file
                    _collect(pending.popleft().result(), out, path, taxonomy, problems)
                for text in bad_lines:
                    problems.report(DataError(path, f"line after data row {out.rows_total}", "CSV", text))
                bad_lines.clear()
            ids: list[str] = batch.column("ImageId").to_pylist()
            take = _select_images(ids, out.image_ids_seen, max_images)
            out.rows_selected += int(take.sum())
            out.images_selected.update(ids if max_images is None else [ids[i] for i in np.flatnonzero(take)])
            pending.append(pool.submit(_convert_block, batch, ids, take, out.rows_total + 1, taxonomy))
            out.rows_total += batch.num_rows
            if len(pending) > CONVERT_THREADS:  # bounded look-ahead keeps memory flat
                _collect(pending.popleft().result(), out, path, taxonomy, problems)
        while pending:
            _collect(pending.popleft().result(), out, path, taxonomy, problems)
    return out


class _ProgressFile:
    """A read-only binary file that advances a tqdm bar by the bytes pyarrow pulls from it."""

    def __init__(self, raw: IO[bytes], bar: tqdm) -> None:
        self._raw, self._bar, self.closed = raw, bar, False

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._bar.update(len(data))
        return data

    def close(self) -> None:
        self.closed = True


@dataclass
class _Block:
    """One converted block of B rows: full (B,) field arrays, RLE results for the rows in ``good``."""

    batch: pa.RecordBatch
    first_row: int
    ids: list[str]
    encoded: list[str]
    heights: np.ndarray
    widths: np.ndarray
    category: np.ndarray
    good: np.ndarray  # (G,) indices of valid rows
    bad: np.ndarray  # indices of selected rows with a problem
    boxes: np.ndarray  # (G, 4)
    areas: np.ndarray  # (G,)
    rle_counts: list[bytes]  # G compressed COCO counts
    attr_ids: np.ndarray
    attr_counts: np.ndarray  # (G,)


def _convert_block(
    batch: pa.RecordBatch, ids: list[str], take: np.ndarray, first_row: int, taxonomy: Taxonomy
) -> _Block:
    """Validate every field of the selected rows and convert their RLEs (runs in a worker thread)."""
    n = batch.num_rows
    heights, h_ok = _positive_ints(batch.column("Height"))
    widths, w_ok = _positive_ints(batch.column("Width"))
    class_raw, c_ok = _positive_ints(batch.column("ClassId"), allow_zero=True)
    lut = taxonomy.class_lut
    c_ok &= class_raw < lut.size
    category = np.where(c_ok, lut[np.where(c_ok, class_raw, 0)], -1)
    c_ok &= category >= 0
    attr_ids, attr_row, a_ok = _attribute_lists(batch.column("AttributesIds"), taxonomy.attribute_lut)
    encoded: list[str] = batch.column("EncodedPixels").to_pylist()
    id_ok = np.fromiter((bool(i) for i in ids), dtype=bool, count=n)
    candidates = np.flatnonzero(id_ok & h_ok & w_ok & c_ok & a_ok & take)
    rle = kaggle_batch_to_coco([encoded[i] for i in candidates.tolist()], heights[candidates], widths[candidates])
    valid = np.zeros(n, dtype=bool)
    valid[candidates] = rle.ok & (rle.areas > 0)  # an empty mask is no annotation
    in_rle = np.flatnonzero(valid[candidates])
    keep_attr = valid[attr_row]
    good = np.flatnonzero(valid)
    return _Block(
        batch=batch,
        first_row=first_row,
        ids=ids,
        encoded=encoded,
        heights=heights,
        widths=widths,
        category=category,
        good=good,
        bad=np.flatnonzero(take & ~valid),
        boxes=rle.boxes[in_rle],
        areas=rle.areas[in_rle],
        rle_counts=[rle.counts[j] for j in in_rle.tolist()],  # type: ignore[misc]
        attr_ids=attr_ids[keep_attr],
        attr_counts=np.bincount(attr_row[keep_attr], minlength=n)[good],
    )


def _collect(block: _Block, out: ParsedRows, path: Path, taxonomy: Taxonomy, problems: ProblemLog) -> None:
    """Report the block's bad rows (in order) and append its valid rows to ``out``."""
    for i in block.bad.tolist():
        problems.report(_row_error(path, block.first_row + i, block, i, taxonomy))
    good = block.good
    out.image_ids.extend(block.ids[i] for i in good.tolist())
    out.rows.append(block.first_row + good)
    out.heights.append(block.heights[good])
    out.widths.append(block.widths[good])
    out.category.append(block.category[good])
    out.boxes.append(block.boxes)
    out.areas.append(block.areas)
    out.rle_counts.extend(block.rle_counts)
    out.attr_ids.append(block.attr_ids)
    out.attr_counts.append(block.attr_counts)


def _select_images(ids: list[str], seen: dict[str, None], max_images: int | None) -> np.ndarray:
    """(B,) bool: rows whose image is among the first ``max_images`` distinct ImageIds of the file."""
    if max_images is None:
        return np.ones(len(ids), dtype=bool)
    for i in ids:
        if len(seen) >= max_images:
            break
        seen.setdefault(i, None)
    return np.fromiter((i in seen for i in ids), dtype=bool, count=len(ids))


def _positive_ints(column: pa.Array, *, allow_zero: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(B,) int64 values of a digits-only string column and (B,) bool validity (0 where invalid)."""
    column = pc.utf8_trim_whitespace(column)
    digits = pc.and_(pc.ascii_is_decimal(column), pc.less_equal(pc.binary_length(column), 9))
    values = pc.cast(pc.if_else(digits, column, "0"), pa.int64()).to_numpy()
    ok = digits.to_numpy(zero_copy_only=False) & (values >= (0 if allow_zero else 1)) & (values <= MAX_SIDE)
    return np.where(ok, values, 0), ok


def _attribute_lists(column: pa.Array, lut: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Comma-separated attribute ids → (M,) sorted unique ids per row, (M,) row of each, (B,) row validity."""
    n = len(column)
    lists = pc.split_pattern(pc.utf8_trim_whitespace(column), ",")
    parent = pc.list_parent_indices(lists).to_numpy()
    tokens = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    nonempty = pc.greater(pc.binary_length(tokens), 0).to_numpy(zero_copy_only=False)
    tokens, parent = tokens.filter(pa.array(nonempty)), parent[nonempty]
    digits = pc.and_(pc.ascii_is_decimal(tokens), pc.less_equal(pc.binary_length(tokens), 9))
    ids = pc.cast(pc.if_else(digits, tokens, "0"), pa.int64()).to_numpy()
    known = digits.to_numpy(zero_copy_only=False) & (ids < lut.size)
    known[known] = lut[ids[known]] >= 0
    ok = np.ones(n, dtype=bool)
    ok[parent[~known]] = False
    # Sort ids within each row and drop repeats (a repeated id carries no extra information).
    order = np.lexsort((ids, parent))
    ids, parent = ids[order], parent[order]
    fresh = np.ones(ids.size, dtype=bool)
    fresh[1:] = (ids[1:] != ids[:-1]) | (parent[1:] != parent[:-1])
    return ids[fresh], parent[fresh], ok


def _row_error(path: Path, row: int, block: _Block, i: int, taxonomy: Taxonomy) -> DataError:
    """The DataError for bad row ``i`` of ``block``, naming the first bad field (rare, so scalar code)."""
    value = {name: block.batch.column(name)[i].as_py() for name in REQUIRED_COLUMNS}
    where = csv_row(row, value["ImageId"] or None)
    if not value["ImageId"]:
        return DataError(path, where, "ImageId", "empty ImageId")
    for name in ("Height", "Width"):
        text = value[name].strip()
        if not (text.isdigit() and 1 <= int(text) <= MAX_SIDE):
            return DataError(path, where, name, f"expected an integer in 1..{MAX_SIDE}, got {value[name]!r}")
    text = value["ClassId"].strip()
    if not (text.isdigit() and int(text) < taxonomy.class_lut.size and taxonomy.class_lut[int(text)] >= 0):
        return DataError(
            path,
            where,
            "ClassId",
            f"unknown class id {value['ClassId']!r}; expected one of "
            f"{min(taxonomy.class_ids)}..{max(taxonomy.class_ids)}",
        )
    tokens = [t.strip() for t in value["AttributesIds"].split(",") if t.strip()]
    lut = taxonomy.attribute_lut
    unknown = [t for t in tokens if not (t.isdigit() and int(t) < lut.size and lut[int(t)] >= 0)]
    if unknown:
        return DataError(
            path,
            where,
            "AttributesIds",
            f"unknown attribute id(s) {unknown}; expected ids of "
            f"the {taxonomy.num_attributes}-attribute taxonomy (0..{lut.size - 1}, non-contiguous)",
        )
    problem = check_kaggle_rle(block.encoded[i], int(block.heights[i]), int(block.widths[i]))
    return DataError(path, where, "EncodedPixels", problem or "empty mask; expected at least one pixel")
