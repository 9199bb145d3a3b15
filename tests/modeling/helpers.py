"""Running the tiny model in the modeling tests: training losses and predictions."""

from __future__ import annotations

from typing import Any

import torch
from detectron2.structures import Instances
from detectron2.utils.events import EventStorage
from torch import nn


def train_losses(model: nn.Module, batch: list[dict[str, Any]], seed: int = 0) -> dict[str, torch.Tensor]:
    """The model's training losses on ``batch``; ``seed`` fixes proposal sampling (the global generator)."""
    model.train()
    torch.manual_seed(seed)
    with EventStorage(0):
        return model(batch)


def predict(model: nn.Module, batch: list[dict[str, Any]]) -> list[Instances]:
    """The model's instances for the images of ``batch``, in eval mode."""
    model.eval()
    with torch.no_grad():
        return [out["instances"] for out in model([{"image": d["image"]} for d in batch])]
