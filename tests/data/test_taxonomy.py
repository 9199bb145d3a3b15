"""The packaged Fashionpedia taxonomy (id ⇄ index lookups: tests/modeling/test_attribute_vocabulary.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fashion_core.data._errors import DataError
from fashion_core.data._taxonomy import PACKAGED_TAXONOMY, load_taxonomy


def test_packaged_taxonomy_has_46_classes_and_294_attributes() -> None:
    tax = load_taxonomy()
    assert tax.num_classes == 46 and len(tax.class_names) == 46
    assert tax.num_attributes == 294 and len(tax.attribute_names) == 294
    assert tax.class_names[0] == "shirt, blouse"
    assert tax.attribute_ids[0] == 0 and tax.attribute_ids[-1] == 340


def test_classes_with_attributes_match_the_official_evaluator() -> None:
    fp_eval = pytest.importorskip("fashionpedia.fp_eval")
    assert load_taxonomy().classes_with_attributes == frozenset(fp_eval.FPParams().catsWithAttributes)


def test_loads_kaggle_label_descriptions_and_dicts(tmp_path: Path) -> None:
    doc = json.loads(PACKAGED_TAXONOMY.read_text())
    labels = tmp_path / "label_descriptions.json"
    labels.write_text(json.dumps({"info": {"year": 2020}, **doc}))
    assert load_taxonomy(labels) == load_taxonomy()
    assert load_taxonomy({"images": [], **doc}).attribute_names == load_taxonomy().attribute_names


def test_bad_taxonomy_files_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "labels.json"
    bad.write_text('{"categories": [{"id": 0, "name": "x"}], "attributes": [{"id": "a", "name": "y"}]}')
    with pytest.raises(DataError, match=r"labels.json attributes\[0\], id: expected a non-negative integer"):
        load_taxonomy(bad)
    with pytest.raises(DataError, match="cannot read taxonomy"):
        load_taxonomy(tmp_path / "missing.json")
