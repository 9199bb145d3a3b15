"""``load_weights``: start a model from a detectron2 checkpoint (COCO Mask R-CNN or ImageNet backbone).

detectron2's DetectionCheckpointer does the work: it reads detectron2 model-zoo ``.pkl`` files (and
converts Caffe2-style ImageNet ones by name matching), native ``.pth`` files, and skips tensors whose
shape differs from the model's (46 classes instead of COCO's 80: the box predictor and the mask
predictor), which therefore keep their fresh initialization, like the attribute branch that no
published checkpoint has.

Safety: no checkpoint can run code when read (:class:`SafeCheckpointer`, also the trainer's). ``.pth``
and ``.pyth`` files are read with ``torch.load(weights_only=True)``; model-zoo ``.pkl`` files with a
restricted unpickler that admits numpy arrays and plain containers only (:mod:`.safe_pickle`), and are
fetched only from detectron2's published locations (``detectron2://``, ``https://dl.fbaipublicfiles.com/``)
or local paths, never from another URL. Resuming follows ``last_checkpoint`` only to a plain file in the
same folder.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass, field
from typing import Any

import torch
from detectron2.checkpoint import DetectionCheckpointer
from torch import nn

from fashion_core.modeling.safe_pickle import load_data_pickle

__all__ = ["TRUSTED_PICKLE_PREFIXES", "CheckpointReadError", "LoadReport", "SafeCheckpointer", "load_weights"]

logger = logging.getLogger(__name__)

# URL prefixes from which pickled (.pkl/.pyth) checkpoints may be downloaded and unpickled.
TRUSTED_PICKLE_PREFIXES = ("detectron2://", "https://dl.fbaipublicfiles.com/")
_PICKLE_SUFFIXES = (".pkl", ".pyth")


class CheckpointReadError(ValueError):
    """A checkpoint that cannot be fetched, read, or matched to the model; the message names it (one line)."""


@dataclass(frozen=True)
class LoadReport:
    """What ``load_weights`` did. Shapes are (key, shape in checkpoint, shape in model)."""

    path: str
    skipped_shapes: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)


class SafeCheckpointer(DetectionCheckpointer):
    """DetectionCheckpointer that never runs code from a file, with one-line errors naming the file.

    * ``.pth``/``.pyth``: ``torch.load(weights_only=True)``; ``.pkl``: :func:`.safe_pickle.load_data_pickle`.
    * A pickle URL other than detectron2's own is refused before anything is fetched.
    * ``last_checkpoint`` (the resume pointer) must name a plain file in ``save_dir`` itself.
    * A missing or unreadable file raises :class:`CheckpointReadError`, not an assertion or a pickle traceback.
    """

    incompatible: Any = None

    @classmethod
    def like(cls, other: DetectionCheckpointer) -> SafeCheckpointer:
        """The same model, folder and checkpointables as ``other`` (DefaultTrainer's), read safely."""
        return cls(other.model, other.save_dir, save_to_disk=other.save_to_disk, **other.checkpointables)

    def load(self, path: str, *args: Any, **kwargs: Any) -> Any:
        if path and not os.path.isfile(path):
            path = self._local_path(path)
        return super().load(path, *args, **kwargs)

    def _local_path(self, path: str) -> str:
        if "://" in path and path.endswith(_PICKLE_SUFFIXES) and not path.startswith(TRUSTED_PICKLE_PREFIXES):
            raise CheckpointReadError(
                f"Refusing to unpickle {path!r}: pickled checkpoints are read only from local paths or "
                f"{list(TRUSTED_PICKLE_PREFIXES)}; download it and pass the local path if you trust it."
            )
        try:
            local = str(self.path_manager.get_local_path(path))
        except Exception as e:  # network/handler errors differ by path manager; all mean "cannot fetch"
            raise CheckpointReadError(f"Cannot fetch checkpoint {path!r}: {type(e).__name__}: {_one_line(e)}") from e
        if not os.path.isfile(local):
            raise CheckpointReadError(f"Checkpoint {path!r} not found.")
        return local

    def get_checkpoint_file(self) -> str:
        """The file ``last_checkpoint`` names, which must be a plain file beside it (no path, no link)."""
        pointer = os.path.join(self.save_dir, "last_checkpoint")
        try:
            with open(pointer) as f:
                name = f.read().strip()
        except (OSError, UnicodeDecodeError):
            return ""  # deleted meanwhile, as fvcore allows
        target = os.path.join(self.save_dir, name)
        if not name or name != os.path.basename(name) or name in (".", "..") or os.path.islink(target) \
                or not os.path.isfile(target):
            raise CheckpointReadError(
                f"{pointer} names {name[:200]!r}; it must name a checkpoint file in the same folder"
            )
        return target

    def _load_file(self, filename: str) -> dict[str, Any]:
        try:
            loaded = self._read(filename)
        except Exception as e:  # any parse failure (pickle, zip, torch, EOF) is one kind of error here
            raise CheckpointReadError(f"Cannot read checkpoint {filename!r}: {type(e).__name__}: {_one_line(e)}") from e
        if not isinstance(loaded, dict):
            raise CheckpointReadError(f"Checkpoint {filename!r} holds a {type(loaded).__name__}, not a dict.")
        return loaded if "model" in loaded else {"model": loaded}

    def _read(self, filename: str) -> Any:
        if filename.endswith(".pkl"):
            with open(filename, "rb") as f:
                data = load_data_pickle(f)
            # The two model-zoo layouts, as DetectionCheckpointer._load_file reads them.
            if not isinstance(data, dict) or ("model" in data and "__author__" in data):
                return data
            blobs = data.get("blobs", data)  # Detectron1 detection models keep weights under "blobs"
            if not isinstance(blobs, dict):
                return blobs
            weights = {k: v for k, v in blobs.items() if not str(k).endswith("_momentum")}
            return {"model": weights, "__author__": "Caffe2", "matching_heuristics": True}
        loaded = torch.load(filename, map_location="cpu", weights_only=True)
        if filename.endswith(".pyth"):  # pycls, as DetectionCheckpointer reads it
            if not isinstance(loaded, dict) or "model_state" not in loaded:
                raise pickle.UnpicklingError("a pycls .pyth checkpoint must contain 'model_state'")
            state = {k: v for k, v in loaded["model_state"].items() if not k.endswith("num_batches_tracked")}
            return {"model": state, "__author__": "pycls", "matching_heuristics": True}
        return loaded

    def _load_model(self, checkpoint: Any) -> Any:
        self.incompatible = super()._load_model(checkpoint)
        return self.incompatible


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:500]


def load_weights(model: nn.Module, path_or_url: str | os.PathLike[str]) -> LoadReport:
    """Load what fits from a checkpoint path or URL into ``model``; ``""`` keeps the random init.

    Raises ``CheckpointReadError`` naming ``path_or_url`` when it cannot be fetched or read, is a pickle
    from an untrusted URL, or shares no tensor with the model.
    """
    path = os.fspath(path_or_url)
    if not path:
        logger.info("MODEL.WEIGHTS is empty: the model keeps its random initialization.")
        return LoadReport(path="")
    checkpointer = SafeCheckpointer(model, save_dir="", save_to_disk=False)
    local = path if os.path.isfile(path) else checkpointer._local_path(path)
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
