"""``TableDicts`` as a ``torch.utils.data.Dataset``, so detectron2 uses it as it is.

detectron2's ``get_detection_dataset_dicts`` passes a registered ``Dataset`` straight to the data loader
(wrapped in a ``ConcatDataset``) instead of listing every dict and pickling each into
``DatasetFromList``: ~1 GB of Python objects and seconds per trial process saved on the full Kaggle set.
Kept apart from ``table`` so that the data layer does not import torch.
"""

from __future__ import annotations

from typing import Any

import torch.utils.data

from fashion_core.data._table import DatasetDict, TableDicts


class TorchTableDicts(TableDicts, torch.utils.data.Dataset[DatasetDict]):
    """A ``TableDicts`` that detectron2 (and torch's loaders) recognise as a map-style dataset."""

    @classmethod
    def of(cls, dicts: TableDicts) -> TorchTableDicts:
        return cls(dicts.table, dicts.image_dir, dicts.images)

    def __add__(self, other: Any) -> Any:  # torch's Dataset.__add__ concatenates; a Sequence has none
        return torch.utils.data.ConcatDataset([self, other])
