"""``load_weights``: start a model from a detectron2 checkpoint (COCO Mask R-CNN or ImageNet backbone).

detectron2's DetectionCheckpointer does the work: it reads detectron2 model-zoo ``.pkl`` files (and
converts Caffe2-style ImageNet ones by name matching), native ``.pth`` files, and skips tensors whose
shape differs from the model's (46 classes instead of COCO's 80: the box predictor and the mask
predictor), which therefore keep their fresh initialization, like the attribute branch that no
published checkpoint has.

Safety: ``.pth`` files are read with ``torch.load(weights_only=True)``. ``.pkl`` (and pycls ``.pyth``)
files are full pickles, able to run code when read: they are accepted from detectron2's published
locations (``detectron2://`` and ``https://dl.fbaipublicfiles.com/``) and from local paths the user names,
never from another URL.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from detectron2.checkpoint import DetectionCheckpointer
from torch import nn

__all__ = ["TRUSTED_PICKLE_PREFIXES", "CheckpointReadError", "LoadReport", "load_weights"]

logger = logging.getLogger(__name__)

# URL prefixes from which pickled (.pkl/.pyth) checkpoints may be downloaded and unpickled.
TRUSTED_PICKLE_PREFIXES = ("detectron2://", "https://dl.fbaipublicfiles.com/")
_PICKLE_SUFFIXES = (".pkl", ".pyth")


class CheckpointReadError(RuntimeError):
    """A checkpoint that cannot be fetched, read, or matched to the model; the message names it."""


@dataclass(frozen=True)
class LoadReport:
    """What ``load_weights`` did. Shapes are (key, shape in checkpoint, shape in model)."""

    path: str
    skipped_shapes: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)


class _Checkpointer(DetectionCheckpointer):
    """DetectionCheckpointer with weights-only ``.pth`` reading, read errors naming the file, kept report."""

    incompatible: Any = None

    def _load_file(self, filename: str) -> dict[str, Any]:
        try:
            if filename.endswith(_PICKLE_SUFFIXES):
                loaded = super()._load_file(filename)
            else:
                loaded = torch.load(filename, map_location="cpu", weights_only=True)
        except Exception as e:  # any parse failure (pickle, zip, torch, EOF) is one kind of error here
            raise CheckpointReadError(f"Cannot read checkpoint {filename!r}: {type(e).__name__}: {e}") from e
        if not isinstance(loaded, dict):
            raise CheckpointReadError(f"Checkpoint {filename!r} holds a {type(loaded).__name__}, not a dict.")
        return loaded if "model" in loaded else {"model": loaded}

    def _load_model(self, checkpoint: Any) -> Any:
        self.incompatible = super()._load_model(checkpoint)
        return self.incompatible


def load_weights(model: nn.Module, path_or_url: str | os.PathLike[str]) -> LoadReport:
    """Load what fits from a checkpoint path or URL into ``model``; ``""`` keeps the random init.

    Raises ``CheckpointReadError`` naming ``path_or_url`` when it cannot be fetched or read, is a pickle
    from an untrusted URL, or shares no tensor with the model.
    """
    path = os.fspath(path_or_url)
    if not path:
        logger.info("MODEL.WEIGHTS is empty: the model keeps its random initialization.")
        return LoadReport(path="")
    if "://" in path and path.endswith(_PICKLE_SUFFIXES) and not path.startswith(TRUSTED_PICKLE_PREFIXES):
        raise CheckpointReadError(
            f"Refusing to unpickle {path!r}: pickled checkpoints are read only from local paths or "
            f"{list(TRUSTED_PICKLE_PREFIXES)}; download it and pass the local path if you trust it."
        )
    checkpointer = _Checkpointer(model, save_dir="", save_to_disk=False)
    try:
        local = checkpointer.path_manager.get_local_path(path)
    except Exception as e:  # network/handler errors differ by path manager; all mean "cannot fetch"
        raise CheckpointReadError(f"Cannot fetch checkpoint {path!r}: {type(e).__name__}: {e}") from e
    if not os.path.isfile(local):
        raise CheckpointReadError(f"Checkpoint {path!r} not found.")
    try:
        checkpointer.load(local, checkpointables=[])
    except CheckpointReadError as e:
        raise CheckpointReadError(f"{e} (from {path!r})" if local != path else str(e)) from e.__cause__
    inc = checkpointer.incompatible
    # Parameters only: missing buffers are not all reported (pixel_mean/std, BN's num_batches_tracked).
    if not {name for name, _ in model.named_parameters()} - set(inc.missing_keys):
        raise CheckpointReadError(f"Checkpoint {path!r} has no tensor matching the model's names and shapes.")
    return LoadReport(
        path=path,
        skipped_shapes=list(inc.incorrect_shapes),
        missing_keys=list(inc.missing_keys),
        unexpected_keys=list(inc.unexpected_keys),
    )
