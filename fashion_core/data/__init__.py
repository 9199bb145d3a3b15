"""Fashion data: taxonomy, Kaggle/COCO RLE, Kaggle and Fashionpedia readers, splits, detectron2
registration, submissions, converters and a synthetic dataset.

detectron2 is imported only by ``register_fashion_datasets`` (and for ``BoxMode`` when installed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fashion_core.data.cache import CACHE_FORMAT_VERSION
from fashion_core.data.errors import DataError
from fashion_core.data.fashionpedia import load_fashionpedia_dataset, load_fashionpedia_dataset_with_report
from fashion_core.data.fp_annotations import polygons_to_rle, segmentation_to_rle
from fashion_core.data.kaggle import load_kaggle_dataset, load_kaggle_dataset_with_report, load_kaggle_table
from fashion_core.data.register import DatasetSpec, load_split, register_fashion_datasets
from fashion_core.data.report import LoadReport
from fashion_core.data.rle import (
    RleBatch,
    check_kaggle_rle,
    coco_counts,
    coco_rle_to_kaggle,
    kaggle_batch_to_coco,
    kaggle_to_coco,
    kaggle_to_mask,
    mask_to_kaggle,
)
from fashion_core.data.split import split_by_image, subset_images
from fashion_core.data.submission import InstancePrediction, submission_rows, write_kaggle_submission
from fashion_core.data.table import AnnotationTable
from fashion_core.data.taxonomy import (
    FASHIONPEDIA_CLASSES_WITH_ATTRIBUTES,
    Taxonomy,
    load_taxonomy,
    taxonomy_from_dict,
)

if TYPE_CHECKING:
    from fashion_core.data.convert import (
        fashionpedia_to_kaggle,
        kaggle_to_fashionpedia,
        results_to_submission,
    )
    from fashion_core.data.synth import write_synthetic_dataset

# The CLI modules load lazily: importing them here would make ``python -m fashion_core.data.synth`` warn
# that the module was already imported by its package.
_LAZY = {
    "fashionpedia_to_kaggle": "fashion_core.data.convert",
    "kaggle_to_fashionpedia": "fashion_core.data.convert",
    "results_to_submission": "fashion_core.data.convert",
    "write_synthetic_dataset": "fashion_core.data.synth",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CACHE_FORMAT_VERSION",
    "FASHIONPEDIA_CLASSES_WITH_ATTRIBUTES",
    "AnnotationTable",
    "DataError",
    "DatasetSpec",
    "InstancePrediction",
    "LoadReport",
    "RleBatch",
    "Taxonomy",
    "check_kaggle_rle",
    "coco_counts",
    "coco_rle_to_kaggle",
    "fashionpedia_to_kaggle",
    "kaggle_batch_to_coco",
    "kaggle_to_coco",
    "kaggle_to_fashionpedia",
    "kaggle_to_mask",
    "load_fashionpedia_dataset",
    "load_fashionpedia_dataset_with_report",
    "load_kaggle_dataset",
    "load_kaggle_dataset_with_report",
    "load_kaggle_table",
    "load_split",
    "load_taxonomy",
    "mask_to_kaggle",
    "polygons_to_rle",
    "register_fashion_datasets",
    "results_to_submission",
    "segmentation_to_rle",
    "split_by_image",
    "submission_rows",
    "subset_images",
    "taxonomy_from_dict",
    "write_kaggle_submission",
    "write_synthetic_dataset",
]
