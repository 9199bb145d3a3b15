"""On-disk cache of a parsed dataset: a directory of ``.npy`` arrays and JSON (never pickles).

The key covers the source file's path, size and mtime, every option that changes the result, and
``CACHE_FORMAT_VERSION``; its digest names the directory. A foreign or corrupt entry is ignored with a
warning and rebuilt. Plain ``.npy`` files (not ``.npz``) because numpy reads them with one ``fromfile``
call: a 333k-annotation table loads in a fraction of a second, while a zip member is read 256 KB at a time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fashion_core.data._errors import DataError
from fashion_core.data._report import LoadReport
from fashion_core.data._table import AnnotationTable

# Bump whenever parsing or the stored layout changes: old cache entries then simply miss.
CACHE_FORMAT_VERSION = 4  # 4: ImageIds that are paths are refused (entries of 3 were not checked)

_ARRAYS = (
    "heights",
    "widths",
    "ann_offsets",
    "category",
    "boxes",
    "areas",
    "attr_offsets",
    "attr_ids",
    "rle_offsets",
    "rle_chars",
)
logger = logging.getLogger(__name__)


def cache_key(source: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    """What a cached result depends on: the source file's identity and the load options."""
    st = source.stat()
    return {
        "format_version": CACHE_FORMAT_VERSION,
        "source": str(source.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "options": {k: options[k] for k in sorted(options)},
    }


def cache_entry(cache_dir: str | Path, key: Mapping[str, Any]) -> Path:
    """``<cache_dir>/<source stem>-<sha256 of the key, 16 hex>/``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{Path(str(key['source'])).stem}-{digest}"


def ensure_cache_dir(cache_dir: str | Path) -> Path:
    """Create ``cache_dir`` now, before any parsing; a path that is a file or cannot be created is a
    one-line DataError instead of an OSError after minutes of work."""
    path = Path(cache_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataError(path, "cache folder", "cache_dir", "is a file; expected a folder (or a new path)") from None
    except OSError as e:
        raise DataError(path, "cache folder", "cache_dir", f"cannot create the folder: {e.strerror or e}") from None
    return path


def save_table(entry: Path, table: AnnotationTable, key: Mapping[str, Any], report: LoadReport) -> None:
    """Write into a temporary directory, then rename: readers never see a half-written entry."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{entry.name}."))
    try:
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(table, name), allow_pickle=False)
        (tmp / "image_ids.json").write_text(json.dumps(table.image_ids))
        # meta.json last: its presence marks a complete entry.
        (tmp / "meta.json").write_text(json.dumps({"key": dict(key), "report": report.to_json()}))
        if entry.exists():  # a corrupt entry we are replacing (or one a concurrent process just wrote)
            trash = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{entry.name}.old."))
            os.replace(entry, trash / "entry")
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, entry)
        except OSError:
            if not (entry / "meta.json").is_file():
                raise  # otherwise a concurrent process has just written the same entry: keep it
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_table(entry: Path, key: Mapping[str, Any]) -> tuple[AnnotationTable, LoadReport] | None:
    """The cached table and report, or None when absent, foreign or corrupt (warns for the latter two)."""
    if not (entry / "meta.json").is_file():
        return None
    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta["key"] != json.loads(json.dumps(dict(key))):
            logger.warning("cache %s was built for other inputs; rebuilding", entry)
            return None
        # The 170 MB of RLE chars are only read once, into Python strings: map them instead of copying.
        # (Entries are replaced by renaming, never rewritten in place, so the mapping stays valid.)
        arrays = {
            name: np.load(entry / f"{name}.npy", allow_pickle=False, mmap_mode="r" if name == "rle_chars" else None)
            for name in _ARRAYS
        }
        table = AnnotationTable(
            image_ids=[str(i) for i in json.loads((entry / "image_ids.json").read_text())],
            **arrays,
        )
        report = LoadReport.from_json(meta["report"], from_cache=True)
        _check_consistent(table)
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowInvalid) as e:
        logger.warning("cache %s is unreadable (%s: %s); rebuilding", entry, type(e).__name__, e)
        return None
    return table, report


def _check_consistent(t: AnnotationTable) -> None:
    """Shapes and offsets agree; otherwise ValueError (the entry is treated as corrupt)."""
    n_img, n_ann = len(t.image_ids), t.num_annotations
    checks = {
        "heights": t.heights.shape == (n_img,),
        "widths": t.widths.shape == (n_img,),
        "ann_offsets": t.ann_offsets.shape == (n_img + 1,) and int(t.ann_offsets[-1]) == n_ann,
        "category": t.category.shape == (n_ann,),
        "boxes": t.boxes.shape == (n_ann, 4),
        "areas": t.areas.shape == (n_ann,),
        "attr_offsets": t.attr_offsets.shape == (n_ann + 1,) and int(t.attr_offsets[-1]) == t.attr_ids.size,
        "rle_offsets": int(t.rle_offsets[-1]) == t.rle_chars.size,
        "rle_chars": t.rle_chars.dtype == np.uint8 and t.rle_chars.ndim == 1,
    }
    bad = [name for name, good in checks.items() if not good]
    offsets = (t.ann_offsets, t.attr_offsets, t.rle_offsets)
    if bad or any(o.size == 0 or o[0] != 0 or (np.diff(o) < 0).any() for o in offsets):
        raise ValueError(f"inconsistent arrays {bad or ['offsets']}")
    t.rle_array().validate(full=True)  # UTF-8 (ASCII here) checked at memory speed, or ArrowInvalid
