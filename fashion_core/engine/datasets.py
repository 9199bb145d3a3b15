"""Choose, generate or validate the dataset of a run, once, before training starts.

Synthetic data is generated into a folder of the run (so a resumed run trains on the same
images); real data is parsed once here, which validates it up front and fills the reader cache
that every later load (every Tune trial) reads.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from fashion_core.data import DatasetSpec, register_fashion_datasets

logger = logging.getLogger(__name__)


def prepare_dataset(
    data: str | Path | None,
    *,
    synthetic_root: Path,
    images: str | Path | None = None,
    synthetic_images: int = 48,
    synthetic_size: int = 128,
    val_fraction: float = 0.25,
    max_images: int | None = None,
    seed: int = 0,
    cache_dir: Path | None = None,
) -> DatasetSpec:
    """The :class:`DatasetSpec` of a run, with its data generated / validated / cached.

    Args:
        data: a Kaggle folder (``train.csv`` + ``train/``), a Kaggle CSV, or a Fashionpedia JSON;
            None for the synthetic dataset.
        synthetic_root: folder under which the synthetic dataset is generated (when ``data`` is None).
        images: image folder of a Fashionpedia JSON (default: ``images/`` beside it).
        val_fraction / seed / max_images: the seeded split by image and subsetting.
        cache_dir: where parsed Kaggle CSVs are cached (default: ``synthetic_root/../cache``).
    """
    cache = str(cache_dir or synthetic_root.parent / "cache")
    common: dict[str, Any] = {"val_fraction": val_fraction, "seed": seed, "max_images": max_images, "cache_dir": cache}
    if data is None:
        root = synthetic_root / f"synthetic-{synthetic_images}x{synthetic_size}-seed{seed}"
        if not (root / "train.csv").is_file():
            from fashion_core.data.synth import write_synthetic_dataset

            logger.info("generating %d synthetic images of %d px into %s", synthetic_images, synthetic_size, root)
            write_synthetic_dataset(root, images=synthetic_images, size=synthetic_size, seed=seed)
        dataset = DatasetSpec.from_kaggle_root(root, **common)
    else:
        path = Path(data).expanduser().resolve()
        if not path.exists():
            raise FileNotFoundError(f"dataset not found: {path} (a Kaggle folder or CSV, or a Fashionpedia JSON)")
        if dataset_format(path) == "fashionpedia":
            image_dir = Path(images).expanduser().resolve() if images else path.parent / "images"
            dataset = DatasetSpec(format="fashionpedia", annotations=str(path), image_dir=str(image_dir), **common)
        elif path.is_file():  # a Kaggle CSV; images in train/ beside it unless given
            image_dir = Path(images).expanduser().resolve() if images else path.parent / "train"
            dataset = DatasetSpec(format="kaggle", annotations=str(path), image_dir=str(image_dir), **common)
        else:
            dataset = DatasetSpec.from_kaggle_root(path, **common)
    from detectron2.data import DatasetCatalog

    if not Path(dataset.image_dir).is_dir():
        raise FileNotFoundError(f"image folder {dataset.image_dir} not found (for {dataset.annotations}; "
                                "pass --data-images)")
    # Here, once: every image file must exist, be a readable image of the annotated size and not a
    # decompression bomb. Kaggle trials get the checked spec: they read the checked table from the cache
    # this fills, without reading headers again. Fashionpedia has no cache: its trials skip the check.
    checked = dataclasses.replace(dataset, check_images=True)
    # The one parse of a search happens here, in the driver: with progress bars (trials read the cache).
    train, val = register_fashion_datasets(checked, progress=True)
    n_train, n_val = len(DatasetCatalog.get(train)), len(DatasetCatalog.get(val))
    logger.info("dataset ready: %d training and %d validation images (image files checked)", n_train, n_val)
    return checked if dataset.format == "kaggle" else dataset


def dataset_format(path: str | Path) -> str:
    """The format :func:`prepare_dataset` reads ``path`` as: ``fashionpedia`` for a ``.json`` file, else
    ``kaggle`` (a folder with ``train.csv``, or a CSV)."""
    return "fashionpedia" if Path(path).suffix.lower() == ".json" else "kaggle"
