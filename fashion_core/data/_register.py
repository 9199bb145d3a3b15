"""Register train/val fashion datasets in detectron2's catalogs from a small, plain-data spec.

A ``DatasetSpec`` holds only strings, numbers and None, so it pickles into Ray workers; each worker calls
``register_fashion_datasets(spec)`` itself (catalogs are per process) and gets the same names back, since
names carry a digest of the spec. The loaders run lazily, when detectron2 first asks for the dicts.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashion_core.data._fashionpedia import load_fashionpedia_dataset
from fashion_core.data._kaggle import load_kaggle_dataset
from fashion_core.data._report import ON_ERROR_CHOICES
from fashion_core.data._split import split_by_image
from fashion_core.data._table import DatasetDict, TableDicts
from fashion_core.data._taxonomy import Taxonomy, load_taxonomy

FORMATS = ("kaggle", "fashionpedia")
EVALUATOR_TYPE = "fashionpedia"  # AP over IoU and attribute F1 (fashion_core.evaluation)


@dataclass(frozen=True)
class DatasetSpec:
    """Where a fashion dataset lives and how to split it; paths are made absolute on construction.

    format: "kaggle" (``annotations`` = train.csv, images ``<ImageId>.jpg``) or "fashionpedia" (COCO JSON).
    val_fraction, seed: seeded split by image of ``annotations`` (``split_by_image``); ignored
        when ``val_annotations`` names a separate validation file.
    max_images: load only the first N images of each file (a quick subset for smoke runs).
    taxonomy: a JSON with ``categories``/``attributes`` (Kaggle label_descriptions.json, or a Fashionpedia
        JSON itself when it embeds another taxonomy version, as the shared 2-image sample does);
        None = the packaged Fashionpedia 2020 taxonomy (46 classes, 294 attributes).
    cache_dir: where the Kaggle loader caches parsed CSVs (strongly advised for the full CSV).
    """

    format: str
    annotations: str
    image_dir: str
    val_fraction: float = 0.1
    seed: int = 0
    max_images: int | None = None
    val_annotations: str | None = None
    val_image_dir: str | None = None
    taxonomy: str | None = None
    cache_dir: str | None = None
    check_images: bool = False
    on_error: str = "raise"
    name: str = "fashion"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        if self.on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {self.on_error!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.max_images is not None and self.max_images < 1:
            raise ValueError(f"max_images must be a positive integer or None, got {self.max_images!r}")
        # Trials may run in another working directory: resolve now, in the driver (frozen, hence setattr).
        for key in ("annotations", "image_dir", "val_annotations", "val_image_dir", "taxonomy", "cache_dir"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, str(Path(value).expanduser().resolve()))

    @classmethod
    def from_kaggle_root(cls, root: str | Path, **kwargs: Any) -> DatasetSpec:
        """Kaggle layout: ``root/train.csv``, ``root/train/``, ``root/label_descriptions.json`` if present."""
        root = Path(root)
        labels = root / "label_descriptions.json"
        kwargs.setdefault("taxonomy", str(labels) if labels.is_file() else None)
        return cls(format="kaggle", annotations=str(root / "train.csv"), image_dir=str(root / "train"), **kwargs)

    def digest(self) -> str:
        """10 hex digits of a SHA-256 over every field: equal specs, equal names, in any process."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def dataset_names(self) -> tuple[str, str]:
        base = f"{self.name}_{self.format}_{self.digest()}"
        return f"{base}_train", f"{base}_val"


def register_fashion_datasets(
    spec: DatasetSpec, names: tuple[str, str] | None = None, *, progress: bool = False
) -> tuple[str, str]:
    """Register (train, val) in DatasetCatalog/MetadataCatalog; idempotent, returns their names.

    Registering the same spec again is a no-op; registering a different spec under explicit ``names``
    already in use replaces the old entries instead of silently serving stale data. ``progress``: the
    readers show progress bars when a split is loaded (for the one parse a search does up front; trials,
    which read the cache, stay quiet).
    """
    from detectron2.data import DatasetCatalog, MetadataCatalog

    taxonomy = load_taxonomy(spec.taxonomy)
    digest = spec.digest()
    for split, name in zip(("train", "val"), names or spec.dataset_names()):
        if name in DatasetCatalog.list():
            if MetadataCatalog.get(name).get("spec_digest", None) == digest:
                continue
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        DatasetCatalog.register(name, functools.partial(load_split, spec, split, progress=progress))
        MetadataCatalog.get(name).set(
            thing_classes=list(taxonomy.class_names),
            attribute_names=list(taxonomy.attribute_names),
            # The raw id of each class index and of each attribute column: what the evaluator reports in.
            class_ids=list(taxonomy.class_ids),
            attribute_ids=list(taxonomy.attribute_ids),
            evaluator_type=EVALUATOR_TYPE,
            spec_digest=digest,
        )
    return names or spec.dataset_names()


def load_split(spec: DatasetSpec, split: str, *, progress: bool = False) -> Sequence[DatasetDict]:
    """The dataset dicts of ``split`` ("train" or "val") described by ``spec``.

    Kaggle data comes as a ``TorchTableDicts``: dicts built on access, which detectron2 hands to its
    loaders as a dataset instead of listing (and pickling) every dict.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    taxonomy = load_taxonomy(spec.taxonomy)
    if spec.val_annotations is not None:
        if split == "train":
            dicts = _load(spec, spec.annotations, spec.image_dir, taxonomy, progress)
        else:
            dicts = _load(spec, spec.val_annotations, spec.val_image_dir or spec.image_dir, taxonomy, progress)
    else:
        train, val = split_by_image(
            _load(spec, spec.annotations, spec.image_dir, taxonomy, progress), spec.val_fraction, spec.seed
        )
        dicts = train if split == "train" else val
    if isinstance(dicts, TableDicts):
        from fashion_core.data._torch_dataset import TorchTableDicts  # torch: only where detectron2 runs

        return TorchTableDicts.of(dicts)
    return dicts


def _load(
    spec: DatasetSpec, annotations: str, image_dir: str, taxonomy: Taxonomy, progress: bool = False
) -> Sequence[DatasetDict]:
    common: dict[str, Any] = {
        "taxonomy": taxonomy,
        "max_images": spec.max_images,
        "on_error": spec.on_error,
        "check_images": spec.check_images,
        "progress": progress,
    }
    if spec.format == "kaggle":
        return load_kaggle_dataset(annotations, image_dir, cache_dir=spec.cache_dir, **common)[0]
    return load_fashionpedia_dataset(annotations, image_dir, **common)[0]
