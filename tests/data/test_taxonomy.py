"""The packaged Fashionpedia taxonomy and its id ⇄ index lookups."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fashion_core.data.errors import DataError
from fashion_core.data.taxonomy import PACKAGED_TAXONOMY, load_taxonomy


def test_packaged_taxonomy_has_46_classes_and_294_attributes() -> None:
    tax = load_taxonomy()
    assert tax.num_classes == 46 and len(tax.class_names) == 46
    assert tax.num_attributes == 294 and len(tax.attribute_names) == 294
    assert tax.class_names[0] == "shirt, blouse"
    assert tax.attribute_ids[0] == 0 and tax.attribute_ids[-1] == 340


def test_attribute_id_index_round_trip() -> None:
    tax = load_taxonomy()
    ids = np.array(tax.attribute_ids)
    idx = tax.attribute_id_to_index(ids)
    np.testing.assert_array_equal(idx, np.arange(294))
    np.testing.assert_array_equal(tax.attribute_index_to_id(idx), ids)
    # Ids above the gap (235..280 do not exist) map to the indices right after 234.
    assert tax.attribute_id_to_index([234, 281]).tolist() == [234, 235]


@pytest.mark.parametrize("bad", [[235], [341], [-1], [0, 999]])
def test_unknown_attribute_ids_raise(bad: list[int]) -> None:
    with pytest.raises(DataError, match="unknown attribute id") as err:
        load_taxonomy().attribute_id_to_index(bad)
    assert "attribute_ids" in str(err.value)


def test_attribute_index_out_of_range_raises() -> None:
    with pytest.raises(DataError, match=r"outside 0\.\.293"):
        load_taxonomy().attribute_index_to_id([294])


def test_multi_hot() -> None:
    tax = load_taxonomy()
    target = tax.attributes_to_multi_hot([317, 0, 340])
    assert target.dtype == np.float32 and target.shape == (294,)
    assert np.flatnonzero(target).tolist() == [0, 270, 293]  # 284 is missing too
    assert tax.attributes_to_multi_hot([]).sum() == 0


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
