"""Stream a Kaggle ``train.csv`` in blocks and validate and convert each block with whole-column operations.

The file is never held in memory at once: pyarrow hands over blocks of a few thousand rows, each is
checked field by field (vectorized), its RLEs converted in one batch, and only compact columns are kept.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from tqdm import tqdm

from fashion_core.data._arrays import Scratch, ragged_index, ragged_offsets, text_and_bounds
from fashion_core.data._compiled import ASCII_SPACE, kernels
from fashion_core.data._errors import DataError, csv_row
from fashion_core.data._report import ProblemLog
from fashion_core.data._rle import check_kaggle_rle, kaggle_batch_to_coco
from fashion_core.data._taxonomy import Taxonomy

REQUIRED_COLUMNS = ("ImageId", "EncodedPixels", "Height", "Width", "ClassId", "AttributesIds")
# ~4 MB blocks (~1.5k rows of real data): big enough to amortise the ~40 pyarrow calls (~15 µs each) that
# check the small fields; the RLE conversion works through a block in cache-sized slices.
BLOCK_BYTES = 4 << 20
MAX_SIDE = 100_000
# numpy ufuncs and pyarrow kernels release the GIL, so two threads nearly double throughput on the
# two-core laptops this must run on; more threads only add memory.
CONVERT_THREADS = 2
_UINT_RE = re.compile(f"[{ASCII_SPACE}]*([0-9]{{1,9}})[{ASCII_SPACE}]*")


@dataclass
class ParsedRows:
    """Accumulated valid rows, in file order: (R,) columns, attributes as flat ids + per-row counts."""

    # ImageIds stay Arrow strings: 333k Python str objects would cost more than the grouping needs.
    image_ids: list[pa.Array] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    heights: list[np.ndarray] = field(default_factory=list)
    widths: list[np.ndarray] = field(default_factory=list)
    category: list[np.ndarray] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    areas: list[np.ndarray] = field(default_factory=list)
    # Compressed COCO counts, ASCII, concatenated into one buffer grown in place: joining ~200 pieces at
    # the end instead needs a fresh 170 MB allocation, which measured 0.03-0.35 s (huge-page faults).
    rle_chars: bytearray = field(default_factory=bytearray)
    rle_lengths: list[np.ndarray] = field(default_factory=list)  # chars per row
    attr_ids: list[np.ndarray] = field(default_factory=list)
    attr_counts: list[np.ndarray] = field(default_factory=list)
    rows_total: int = 0  # every well-formed data row read (malformed lines are not counted)
    rows_selected: int = 0  # rows of the images kept by max_images
    image_ids_seen: dict[str, None] = field(default_factory=dict)  # for max_images, in file order
    selected_ids: list[pa.Array] = field(default_factory=list)  # ImageIds of the selected rows

    def images_selected(self) -> int:
        """Distinct ImageIds among the selected rows."""
        if not self.selected_ids:
            return 0
        return int(pc.count_distinct(pa.chunked_array(self.selected_ids, type=pa.string())).as_py())


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
    malformed = _MalformedLines(path)
    line_errors: deque[tuple[int, DataError]] = deque()  # malformed lines not reported yet, by row

    def on_invalid_line(row: Any) -> str:
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
        malformed,
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
        # One scratch per worker: at most CONVERT_THREADS blocks convert at once, so get() never waits.
        scratches: Queue[Scratch] = Queue()
        for _ in range(CONVERT_THREADS):
            scratches.put(Scratch())
        for batch in reader:
            # pyarrow has parsed this batch, so every malformed line before its rows has been seen.
            if bad_lines:
                rows = malformed.rows(len(malformed.found) + len(bad_lines))
                line_errors.extend((r, DataError(path, csv_row(r), "CSV", t)) for r, t in zip(rows, bad_lines))
                bad_lines.clear()
            ids = batch.column("ImageId")
            take = _select_images(ids, out.image_ids_seen, max_images)
            out.rows_selected += int(take.sum())
            out.selected_ids.append(ids if max_images is None else ids.filter(pa.array(take)))
            numbers = malformed.data_rows(out.rows_total + 1 + np.arange(batch.num_rows))
            pending.append(pool.submit(_convert_block, batch, take, numbers, taxonomy, scratches))
            out.rows_total += batch.num_rows
            if len(pending) > CONVERT_THREADS:  # bounded look-ahead keeps memory flat
                _collect(pending.popleft().result(), out, path, taxonomy, problems, line_errors)
        while pending:
            _collect(pending.popleft().result(), out, path, taxonomy, problems, line_errors)
        if bad_lines:  # malformed lines after the last batch
            rows = malformed.rows(len(malformed.found) + len(bad_lines))
            line_errors.extend((r, DataError(path, csv_row(r), "CSV", t)) for r, t in zip(rows, bad_lines))
        _report_lines(line_errors, problems, None)
    return out


class _MalformedLines:
    """Data-row numbers (1-based, header not counted) of the lines pyarrow skips as malformed.

    pyarrow's parallel parser does not know them (``InvalidRow.number`` is None); its serial parser
    does. So a second, serial pass over the file (one column converted) starts only once a malformed
    line has been seen, and reads only as far as the lines asked for: free on a well-formed file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self.found: list[int] = []
        self._raw: IO[bytes] | None = None
        self._reader: Any = None

    def rows(self, k: int) -> list[int]:
        """The rows of the first k malformed lines."""
        if self._reader is None:
            self._raw = self._path.open("rb")
            self._reader = pacsv.open_csv(
                self._raw,
                read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),
                parse_options=pacsv.ParseOptions(invalid_row_handler=self._on_invalid),
                convert_options=pacsv.ConvertOptions(
                    include_columns=["ImageId"], column_types={"ImageId": pa.string()}
                ),
            )
        while len(self.found) < k:
            try:
                self._reader.read_next_batch()
            except StopIteration:  # the serial parser disagrees with the parallel one: not seen so far
                raise DataError(self._path, "a malformed line", "CSV", "its row could not be located") from None
        return self.found[:k]

    def data_rows(self, ordinals: np.ndarray) -> np.ndarray:
        """(B,) data-row numbers of the valid rows with these 1-based ordinals among valid rows."""
        if not self.found:
            return ordinals
        # Malformed line j (1-based) has found[j] - j valid rows before it: it precedes ordinal v iff that is < v.
        valid_before = np.asarray(self.found, dtype=np.int64) - np.arange(1, len(self.found) + 1)
        return ordinals + np.searchsorted(valid_before, ordinals, side="left")

    def _on_invalid(self, row: Any) -> str:
        self.found.append(int(row.number) - 1)  # number counts the header line
        return "skip"

    def __enter__(self) -> _MalformedLines:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._raw is not None:
            self._raw.close()


def _report_lines(line_errors: deque[tuple[int, DataError]], problems: ProblemLog, before: int | None) -> None:
    """Report the malformed lines above row ``before`` (all when None), in file order."""
    while line_errors and (before is None or line_errors[0][0] < before):
        problems.report(line_errors.popleft()[1])


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
    rows: np.ndarray  # (B,) data-row number of each row
    heights: np.ndarray
    widths: np.ndarray
    category: np.ndarray
    good: np.ndarray  # (G,) indices of valid rows
    bad: np.ndarray  # indices of selected rows with a problem
    boxes: np.ndarray  # (G, 4)
    areas: np.ndarray  # (G,)
    rle_chars: np.ndarray  # (C,) uint8: the G compressed COCO counts, concatenated
    rle_lengths: np.ndarray  # (G,) chars of each
    attr_ids: np.ndarray
    attr_counts: np.ndarray  # (G,)


def _convert_block(
    batch: pa.RecordBatch,
    take: np.ndarray,
    rows: np.ndarray,
    taxonomy: Taxonomy,
    scratches: Queue[Scratch],
) -> _Block:
    """Validate every field of the selected rows and convert their RLEs (runs in a worker thread)."""
    scratch = scratches.get()
    try:
        return _convert_fields(batch, take, rows, taxonomy, scratch)
    finally:
        scratches.put(scratch)


def _convert_fields(
    batch: pa.RecordBatch, take: np.ndarray, rows: np.ndarray, taxonomy: Taxonomy, scratch: Scratch
) -> _Block:
    n = batch.num_rows
    heights = _uints(batch.column("Height"))
    widths = _uints(batch.column("Width"))
    class_raw = _uints(batch.column("ClassId"))
    h_ok = (heights >= 1) & (heights <= MAX_SIDE)
    w_ok = (widths >= 1) & (widths <= MAX_SIDE)
    heights[~h_ok], widths[~w_ok] = 0, 0
    lut = taxonomy.class_lut
    c_ok = (class_raw >= 0) & (class_raw < lut.size)
    category = np.where(c_ok, lut[np.where(c_ok, class_raw, 0)], -1)
    c_ok &= category >= 0
    text, bounds = text_and_bounds(batch.column("AttributesIds"))
    k = kernels()
    attr_ids = scratch.array("attr_ids", k.id_list_capacity(bounds[-1] - bounds[0], n), np.int64)
    attr_counts = np.empty(n, dtype=np.int64)
    a_ok = np.empty(n, dtype=bool)
    known = (taxonomy.attribute_lut >= 0).view(np.uint8)
    n_ids = k.parse_id_lists(text, bounds, known, attr_ids, attr_counts, a_ok.view(np.uint8))
    attr_ids = attr_ids[:n_ids]
    attr_row = np.repeat(np.arange(n), attr_counts)
    id_ok = np.diff(text_and_bounds(batch.column("ImageId"))[1]) > 0
    candidates = np.flatnonzero(id_ok & h_ok & w_ok & c_ok & a_ok & take)
    rle = kaggle_batch_to_coco(
        batch.column("EncodedPixels"), heights[candidates], widths[candidates], rows=candidates, scratch=scratch
    )
    valid = np.zeros(n, dtype=bool)
    valid[candidates] = rle.ok & (rle.areas > 0)  # an empty mask is no annotation
    in_rle = np.flatnonzero(valid[candidates])
    chars, char_offsets = rle.chars, rle.char_offsets
    if in_rle.size < candidates.size:
        chars, char_offsets = chars[ragged_index(char_offsets, in_rle)], ragged_offsets(char_offsets, in_rle)
    keep_attr = valid[attr_row]
    good = np.flatnonzero(valid)
    return _Block(
        batch=batch,
        rows=rows,
        heights=heights,
        widths=widths,
        category=category,
        good=good,
        bad=np.flatnonzero(take & ~valid),
        boxes=rle.boxes[in_rle],
        areas=rle.areas[in_rle],
        rle_chars=chars,
        rle_lengths=np.diff(char_offsets),
        attr_ids=attr_ids[keep_attr],
        attr_counts=np.bincount(attr_row[keep_attr], minlength=n)[good],
    )


def _collect(
    block: _Block,
    out: ParsedRows,
    path: Path,
    taxonomy: Taxonomy,
    problems: ProblemLog,
    line_errors: deque[tuple[int, DataError]],
) -> None:
    """Report the block's bad rows and the malformed lines among them (in file order); append its valid rows."""
    for i in block.bad.tolist():
        _report_lines(line_errors, problems, int(block.rows[i]))
        problems.report(_row_error(path, int(block.rows[i]), block, i, taxonomy))
    if block.rows.size:
        _report_lines(line_errors, problems, int(block.rows[-1]))
    good = block.good
    out.image_ids.append(block.batch.column("ImageId").take(pa.array(good)))
    out.rows.append(block.rows[good])
    out.heights.append(block.heights[good])
    out.widths.append(block.widths[good])
    out.category.append(block.category[good])
    out.boxes.append(block.boxes)
    out.areas.append(block.areas)
    out.rle_chars += block.rle_chars.data
    out.rle_lengths.append(block.rle_lengths)
    out.attr_ids.append(block.attr_ids)
    out.attr_counts.append(block.attr_counts)


def _select_images(column: pa.Array, seen: dict[str, None], max_images: int | None) -> np.ndarray:
    """(B,) bool: rows whose image is among the first ``max_images`` distinct ImageIds of the file."""
    if max_images is None:
        return np.ones(len(column), dtype=bool)
    ids: list[str] = column.to_pylist()
    for i in ids:
        if len(seen) >= max_images:
            break
        seen.setdefault(i, None)
    return np.fromiter((i in seen for i in ids), dtype=bool, count=len(ids))


def _uints(column: pa.Array) -> np.ndarray:
    """(B,) int64 values of a column of unsigned integers (``_kernels.pyx`` rules), -1 where invalid."""
    text, bounds = text_and_bounds(column)
    values = np.empty(len(column), dtype=np.int64)
    kernels().parse_uints(text, bounds, values)
    return values


def _uint_text(text: str) -> int | None:
    """The value of an unsigned-integer field as ``_uints`` reads it, None where it would be invalid."""
    match = _UINT_RE.fullmatch(text)
    return int(match.group(1)) if match else None


def _row_error(path: Path, row: int, block: _Block, i: int, taxonomy: Taxonomy) -> DataError:
    """The DataError for bad row ``i`` of ``block``, naming the first bad field (rare, so scalar code)."""
    value = {name: block.batch.column(name)[i].as_py() for name in REQUIRED_COLUMNS}
    where = csv_row(row, value["ImageId"] or None)
    if not value["ImageId"]:
        return DataError(path, where, "ImageId", "empty ImageId")
    for name in ("Height", "Width"):
        size = _uint_text(value[name])
        if size is None or not 1 <= size <= MAX_SIDE:
            return DataError(path, where, name, f"expected an integer in 1..{MAX_SIDE}, got {value[name]!r}")
    class_id = _uint_text(value["ClassId"])
    if class_id is None or class_id >= taxonomy.class_lut.size or taxonomy.class_lut[class_id] < 0:
        return DataError(
            path,
            where,
            "ClassId",
            f"unknown class id {value['ClassId']!r}; expected one of "
            f"{min(taxonomy.class_ids)}..{max(taxonomy.class_ids)}",
        )
    tokens = [t for t in value["AttributesIds"].split(",") if t.strip(ASCII_SPACE)]
    lut = taxonomy.attribute_lut
    unknown = [t.strip() for t in tokens if (a := _uint_text(t)) is None or a >= lut.size or lut[a] < 0]
    if unknown:
        return DataError(
            path,
            where,
            "AttributesIds",
            f"unknown attribute id(s) {unknown}; expected ids of "
            f"the {taxonomy.num_attributes}-attribute taxonomy (0..{lut.size - 1}, non-contiguous)",
        )
    problem = check_kaggle_rle(value["EncodedPixels"] or "", int(block.heights[i]), int(block.widths[i]))
    return DataError(path, where, "EncodedPixels", problem or "empty mask; expected at least one pixel")
