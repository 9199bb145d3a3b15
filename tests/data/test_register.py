"""detectron2 registration: idempotent, re-registers changed specs, works in a fresh process."""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_core.data._register import DatasetSpec, register_fashion_datasets
from fashion_core.data.synth import write_synthetic_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth_reg")
    write_synthetic_dataset(out, images=30, seed=1)
    return out


def test_spec_is_plain_data_with_a_stable_name(root: Path) -> None:
    spec = DatasetSpec.from_kaggle_root(root, val_fraction=0.2, seed=1)
    assert Path(spec.annotations).is_absolute() and spec.taxonomy == str(root / "label_descriptions.json")
    clone = pickle.loads(pickle.dumps(spec))
    assert clone == spec and clone.dataset_names() == spec.dataset_names()
    assert DatasetSpec(**dataclasses.asdict(spec)).digest() == spec.digest()
    assert dataclasses.replace(spec, seed=2).digest() != spec.digest()
    with pytest.raises(ValueError, match="format must be one of"):
        DatasetSpec(format="coco", annotations="a", image_dir="b")


def test_register_is_idempotent_and_gives_disjoint_splits(root: Path, tmp_path: Path) -> None:
    pytest.importorskip("detectron2")
    from detectron2.data import DatasetCatalog, MetadataCatalog

    spec = DatasetSpec.from_kaggle_root(root, val_fraction=0.2, seed=1, cache_dir=str(tmp_path))
    train_name, val_name = register_fashion_datasets(spec)
    n_registered = len(DatasetCatalog.list())
    assert register_fashion_datasets(spec) == (train_name, val_name)
    assert len(DatasetCatalog.list()) == n_registered
    train, val = DatasetCatalog.get(train_name), DatasetCatalog.get(val_name)
    assert (len(train), len(val)) == (24, 6)
    assert not {d["image_id"] for d in train} & {d["image_id"] for d in val}
    meta = MetadataCatalog.get(train_name)
    assert len(meta.thing_classes) == 46 and len(meta.attribute_names) == 294
    assert meta.evaluator_type == "fashionpedia"


def test_same_name_with_another_spec_is_replaced(root: Path) -> None:
    pytest.importorskip("detectron2")
    from detectron2.data import DatasetCatalog

    names = ("fashion_test_train", "fashion_test_val")
    register_fashion_datasets(DatasetSpec.from_kaggle_root(root, val_fraction=0.1), names)
    assert len(DatasetCatalog.get(names[1])) == 3
    register_fashion_datasets(DatasetSpec.from_kaggle_root(root, val_fraction=0.5), names)
    assert len(DatasetCatalog.get(names[1])) == 15  # not the stale 3


def test_registration_in_a_fresh_process(root: Path) -> None:
    pytest.importorskip("detectron2")
    spec = DatasetSpec.from_kaggle_root(root, val_fraction=0.2, seed=1, max_images=10)
    code = (
        "import json, sys\n"
        "from detectron2.data import DatasetCatalog\n"
        "from fashion_core.data import DatasetSpec, register_fashion_datasets\n"
        "spec = DatasetSpec(**json.loads(sys.argv[1]))\n"
        "names = register_fashion_datasets(spec)\n"
        "print(json.dumps([names, [len(DatasetCatalog.get(n)) for n in names]]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(dataclasses.asdict(spec))],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    names, sizes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert tuple(names) == spec.dataset_names() and sizes == [8, 2]


def test_fashionpedia_spec_registers(fashionpedia_sample: Path) -> None:
    pytest.importorskip("detectron2")
    from detectron2.data import DatasetCatalog, MetadataCatalog

    sample = fashionpedia_sample / "sample.json"
    # The sample embeds an older taxonomy (48 classes, 320 attributes): name it as the taxonomy.
    spec = DatasetSpec(
        format="fashionpedia",
        annotations=str(sample),
        image_dir=str(fashionpedia_sample / "images"),
        taxonomy=str(sample),
        val_fraction=0.5,
        seed=0,
    )
    train_name, val_name = register_fashion_datasets(spec)
    assert len(DatasetCatalog.get(train_name)) == len(DatasetCatalog.get(val_name)) == 1
    assert len(MetadataCatalog.get(val_name).thing_classes) == 48
