"""Fashion data: the Kaggle and Fashionpedia readers, the taxonomy, detectron2 registration, Kaggle
submissions.

This package's names are its public face; the modules behind them are private (``_kaggle.py``,
``_rle.py``, ...). Two public modules are command lines: ``python -m fashion_core.data.synth`` (a
synthetic Kaggle-layout dataset, ``write_synthetic_dataset``) and ``python -m fashion_core.data.convert``
(Fashionpedia JSON <-> Kaggle CSV). detectron2 is imported only by ``register_fashion_datasets`` (and for
``BoxMode`` when installed).
"""

from __future__ import annotations

from fashion_core.data._coco_string import first_invalid_rle
from fashion_core.data._errors import DataError
from fashion_core.data._fashionpedia import load_fashionpedia_dataset
from fashion_core.data._ground_truth import dataset_dicts_to_gt
from fashion_core.data._kaggle import load_kaggle_dataset
from fashion_core.data._register import DatasetSpec, register_fashion_datasets
from fashion_core.data._rle import segmentation_to_rle
from fashion_core.data._submission import (
    InstancePrediction,
    image_submission_rows,
    write_kaggle_submission,
    write_submission_rows,
)
from fashion_core.data._taxonomy import FASHIONPEDIA_CLASSES_WITH_ATTRIBUTES, Taxonomy, load_taxonomy

__all__ = [
    "FASHIONPEDIA_CLASSES_WITH_ATTRIBUTES",
    "DataError",
    "DatasetSpec",
    "InstancePrediction",
    "Taxonomy",
    "dataset_dicts_to_gt",
    "first_invalid_rle",
    "image_submission_rows",
    "load_fashionpedia_dataset",
    "load_kaggle_dataset",
    "load_taxonomy",
    "register_fashion_datasets",
    "segmentation_to_rle",
    "write_kaggle_submission",
    "write_submission_rows",
]
