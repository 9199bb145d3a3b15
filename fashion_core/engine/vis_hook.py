"""TensorBoard pictures of a few fixed validation images at every report: prediction beside ground truth.

The pictures go through detectron2's ``EventStorage.put_image``; the trainer's ``TensorboardXWriter``
writes them into the run's event files (IMAGES tab), so trials of a search can be compared by eye.
Drawing is :mod:`fashion_core.inference.draw` (detectron2's Visualizer, class and attribute names).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image
from detectron2.engine import HookBase
from detectron2.utils import comm
from torch import nn

from fashion_core.data import load_taxonomy
from fashion_core.inference.draw import draw_ground_truth, draw_predictions, side_by_side
from fashion_core.modeling import AttributeDatasetMapper

logger = logging.getLogger(__name__)

# Images shown per report: enough to compare trials by eye, cheap next to the evaluation.
NUM_IMAGES = 3
# Detections drawn score at least this (fashion_core.predict's --vis-score default).
PICTURE_SCORE = 0.3


class VisualizeValidation(HookBase):
    """Every ``period`` iterations and after the last one, log ``num_images`` fixed validation pictures.

    The images are the first ``num_images`` of the test dataset (same ones at every report and in
    every trial of a search). Each picture is (3, H, 2W + gap) uint8: prediction left, ground truth right.
    Tags: ``val_images/<index>_<file stem>``. Main process only.
    """

    def __init__(self, cfg: CfgNode, period: int, num_images: int = NUM_IMAGES) -> None:
        self._cfg = cfg
        self._period = period
        self._num_images = num_images
        self._dicts: list[dict[str, Any]] | None = None
        self._mapper = AttributeDatasetMapper(cfg, is_train=False)
        self._taxonomy = load_taxonomy()

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        due = self._period > 0 and (next_iter % self._period == 0 or next_iter == self.trainer.max_iter)
        if due and comm.is_main_process():
            self.log_pictures()

    def _images(self) -> list[dict[str, Any]]:
        if self._dicts is None:
            dicts = DatasetCatalog.get(self._cfg.DATASETS.TEST[0])
            self._dicts = [dict(dicts[i]) for i in range(min(self._num_images, len(dicts)))]
        return self._dicts

    def log_pictures(self) -> None:
        """Predict the fixed images with the current weights and put one picture each into the storage."""
        model: nn.Module = self.trainer.model
        # DDP would sync buffers with ranks that do not run this forward: use the wrapped module.
        model = getattr(model, "module", model)
        was_training = model.training
        model.eval()
        try:
            for i, d in enumerate(self._images()):
                picture = self._picture(model, d)
                self.trainer.storage.put_image(f"val_images/{i}_{Path(d['file_name']).stem}", picture)
        finally:
            model.train(was_training)

    def _picture(self, model: nn.Module, d: dict[str, Any]) -> np.ndarray:
        image = read_image(d["file_name"], format="RGB")
        inputs = self._mapper(dict(d))
        with torch.no_grad():
            instances = model([inputs])[0]["instances"].to("cpu")
        # As predict's pictures: a search's low class threshold would bury the picture in weak boxes.
        instances = instances[instances.scores >= PICTURE_SCORE]
        both = side_by_side(
            draw_predictions(image, instances, self._taxonomy),
            draw_ground_truth(image, d.get("annotations", []), self._taxonomy),
        )
        return both.transpose(2, 0, 1)  # (3, H, W) uint8, as put_image takes it
