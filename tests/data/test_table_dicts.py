"""TableDicts: dataset dicts built on access behave as the list of them, and detectron2 takes them as a dataset."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest

from fashion_core.data._kaggle import load_kaggle_dataset
from fashion_core.data._register import DatasetSpec, load_split, register_fashion_datasets
from fashion_core.data._split import split_by_image
from fashion_core.data._table import TableDicts
from fashion_core.data.synth import write_synthetic_dataset


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth_lazy")
    write_synthetic_dataset(out, images=23, seed=4)
    return out


@pytest.fixture(scope="module")
def lazy(root: Path) -> TableDicts:
    table = load_kaggle_dataset(root / "train.csv", root / "train", check_images=False, progress=False)[0].table
    return table.to_dicts(root / "train")


def test_reads_match_one_bulk_build_however_they_are_made(lazy: TableDicts, monkeypatch: pytest.MonkeyPatch) -> None:
    table = lazy.table
    every = table.build_dicts(lazy.image_dir, np.arange(table.num_images))
    assert len(lazy) == len(every) == 23 and sum(len(d["annotations"]) for d in every) == table.num_annotations
    assert [lazy[i] for i in range(len(lazy))] == every
    assert lazy[-1] == every[-1] and lazy[-23] == every[0]
    monkeypatch.setattr(TableDicts, "_CHUNK", 5)  # iteration in several bulk chunks
    assert list(lazy) == every and lazy == every
    assert list(lazy[3:17:4]) == every[3:17:4] and list(lazy[::-1]) == every[::-1]
    assert list(lazy.take([7, 2, 7])) == [every[7], every[2], every[7]]
    assert lazy.image_ids == [d["image_id"] for d in every]
    for bad in (23, -24):
        with pytest.raises(IndexError, match="out of range"):
            lazy[bad]


def test_reads_are_fresh_dicts_and_the_sequence_pickles(lazy: TableDicts) -> None:
    first = lazy[0]
    original = copy.deepcopy(first)
    first["annotations"].clear()
    assert lazy[0] == original  # detectron2's mappers may change what they read: nothing stored changes
    clone = pickle.loads(pickle.dumps(lazy[2:6]))
    assert list(clone) == list(lazy[2:6])
    assert lazy != list(lazy)[:-1] and lazy != "not a dataset"


def test_split_by_image_gives_views_equal_to_the_list_split(lazy: TableDicts) -> None:
    train, val = split_by_image(lazy, 0.25, seed=5)
    train_list, val_list = split_by_image(list(lazy), 0.25, seed=5)
    assert isinstance(train, TableDicts) and isinstance(val, TableDicts)
    assert list(train) == train_list and list(val) == val_list and len(val) == 6


def test_detectron2_uses_the_registered_dicts_as_a_dataset(root: Path, tmp_path: Path) -> None:
    pytest.importorskip("detectron2")
    import torch.utils.data
    from detectron2.data import DatasetCatalog, get_detection_dataset_dicts

    spec = DatasetSpec.from_kaggle_root(root, val_fraction=0.2, seed=1, cache_dir=str(tmp_path))
    train_name, _ = register_fashion_datasets(spec)
    registered = DatasetCatalog.get(train_name)
    assert isinstance(registered, torch.utils.data.Dataset) and isinstance(registered, TableDicts)
    assert list(registered) == list(load_split(spec, "train"))
    # No list of every dict (nor detectron2's pickled copy of it): the loader indexes the table.
    dataset = get_detection_dataset_dicts([train_name])
    assert isinstance(dataset, torch.utils.data.ConcatDataset)
    assert dataset[len(dataset) - 1] == registered[-1]
