"""The Fashionpedia taxonomy: 46 classes, 294 attributes with non-contiguous ids, and lookups between them.

Kaggle's ``label_descriptions.json`` and Fashionpedia's ``categories``/``attributes`` share ids, names,
supercategories and levels, so one loader reads both (and a Fashionpedia ground-truth dict that embeds them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fashion_core.data._errors import DataError

PACKAGED_TAXONOMY = Path(__file__).with_name("taxonomy_fashionpedia.json")

# Category ids whose attributes the official evaluator scores (fashionpedia.fp_eval.FPParams
# .catsWithAttributes): the 13 garments (upper/lower/whole body, ids 0..12) plus the parts collar,
# lapel, sleeve, pocket and neckline. Hood (27) and epaulette (30) are parts without attributes, so no
# supercategory rule reproduces this set; tests check it against the installed fashionpedia package.
FASHIONPEDIA_CLASSES_WITH_ATTRIBUTES = frozenset(range(13)) | frozenset({28, 29, 31, 32, 33})


@dataclass(frozen=True)
class Taxonomy:
    """Class and attribute names; ``*_ids`` are raw dataset ids, list positions are contiguous indices.

    Attribute ids are non-contiguous in 0..340 (294 of them); models work with indices 0..A-1, through
    ``fashion_core.modeling.vocabulary`` (the one attribute vocabulary); the readers use the lookup tables.
    """

    source: str = field(compare=False)  # where it was read from, for error messages
    class_ids: tuple[int, ...]
    class_names: tuple[str, ...]
    class_supercategories: tuple[str, ...]
    attribute_ids: tuple[int, ...]
    attribute_names: tuple[str, ...]
    attribute_supercategories: tuple[str, ...]
    # Raw class ids checked for attributes by the official evaluator (a subset of class_ids).
    classes_with_attributes: frozenset[int]
    # (max_id + 1,) int64 lookup tables, -1 where an id is unknown.
    _class_lut: np.ndarray = field(init=False, repr=False, compare=False, hash=False)
    _attr_lut: np.ndarray = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Frozen dataclass: derived tables are set once here, never mutated afterwards.
        object.__setattr__(self, "_class_lut", _lookup_table(self.class_ids))
        object.__setattr__(self, "_attr_lut", _lookup_table(self.attribute_ids))

    @property
    def num_classes(self) -> int:
        return len(self.class_ids)

    @property
    def num_attributes(self) -> int:
        return len(self.attribute_ids)

    @property
    def class_lut(self) -> np.ndarray:
        """(max_class_id + 1,) int64: raw class id → contiguous index, -1 for unknown ids."""
        return self._class_lut

    @property
    def attribute_lut(self) -> np.ndarray:
        """(max_attribute_id + 1,) int64: raw attribute id → contiguous index, -1 for unknown ids."""
        return self._attr_lut

    def class_has_attributes(self, class_id: int) -> bool:
        """Whether objects of this raw class id carry attributes in Fashionpedia annotations."""
        return class_id in self.classes_with_attributes


def load_taxonomy(source: str | Path | Mapping[str, Any] | None = None) -> Taxonomy:
    """Read a taxonomy from a JSON file, an already-loaded dict, or (None) the packaged Fashionpedia file.

    The dict needs ``categories`` and ``attributes`` lists of ``{"id", "name", "supercategory"}``;
    extra keys (``info``, ``images``, ``annotations`` of a ground-truth file) are ignored.
    """
    if source is None:
        source = PACKAGED_TAXONOMY
    if isinstance(source, Mapping):
        return taxonomy_from_dict(source, "<dict>")
    path = Path(source)
    try:
        with path.open("rb") as f:
            doc = json.load(f)
    except RecursionError:  # json.load recurses per nesting level: a hostile file can exhaust the stack
        raise DataError(path, "document", "json", "nested too deep to read") from None
    except OSError as e:
        raise DataError(path, "document", "file", f"cannot read taxonomy: {e.strerror or e}") from e
    except json.JSONDecodeError as e:
        raise DataError(path, "document", "json", f"not valid JSON: {e}") from e
    if not isinstance(doc, Mapping):
        raise DataError(path, "document", "json", f"expected an object, got {type(doc).__name__}")
    return taxonomy_from_dict(doc, str(path))


def taxonomy_from_dict(doc: Mapping[str, Any], source: str) -> Taxonomy:
    """Build a Taxonomy from a loaded ``{"categories": [...], "attributes": [...]}`` mapping."""
    cats = _entries(doc, "categories", source)
    attrs = _entries(doc, "attributes", source)
    cats.sort(key=lambda e: e[0])
    attrs.sort(key=lambda e: e[0])
    class_ids = tuple(e[0] for e in cats)
    return Taxonomy(
        source=source,
        class_ids=class_ids,
        class_names=tuple(e[1] for e in cats),
        class_supercategories=tuple(e[2] for e in cats),
        attribute_ids=tuple(e[0] for e in attrs),
        attribute_names=tuple(e[1] for e in attrs),
        attribute_supercategories=tuple(e[2] for e in attrs),
        classes_with_attributes=FASHIONPEDIA_CLASSES_WITH_ATTRIBUTES & frozenset(class_ids),
    )


def _entries(doc: Mapping[str, Any], key: str, source: str) -> list[tuple[int, str, str]]:
    items = doc.get(key)
    if not isinstance(items, list) or not items:
        raise DataError(source, "document", key, f"expected a non-empty list, got {type(items).__name__}")
    out: list[tuple[int, str, str]] = []
    seen: set[int] = set()
    for i, item in enumerate(items):
        ident = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(ident, int) or isinstance(ident, bool) or ident < 0:
            raise DataError(source, f"{key}[{i}]", "id", f"expected a non-negative integer, got {ident!r}")
        if ident in seen:
            raise DataError(source, f"{key}[{i}]", "id", f"duplicate id {ident}")
        seen.add(ident)
        name = item.get("name")
        if not isinstance(name, str):
            raise DataError(source, f"{key}[{i}] (id {ident})", "name", f"expected a string, got {name!r}")
        out.append((ident, name, str(item.get("supercategory", ""))))
    return out


def _lookup_table(ids: tuple[int, ...]) -> np.ndarray:
    lut = np.full(max(ids) + 1, -1, dtype=np.int64)
    lut[np.asarray(ids, dtype=np.int64)] = np.arange(len(ids), dtype=np.int64)
    lut.setflags(write=False)
    return lut

