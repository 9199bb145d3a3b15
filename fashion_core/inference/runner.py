"""Batched inference over a :class:`PredictionImages` dataset: a DataLoader with workers, AMP on GPU.

The workers decode and resize images while the model runs; the model gets lists of up to
``batch_size`` inputs (detectron2 pads a batch to its largest image). Outputs come back in input
order, one :class:`Prediction` per image, moved to the CPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from detectron2.structures import Instances
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from .images import PredictionImages, collate_list


@dataclass(frozen=True)
class Prediction:
    """One image's outcome: its input dict (without the image tensor) and instances, or the read error."""

    item: dict[str, Any]
    instances: Instances | None
    error: str | None = None


def default_batch_size(device: str) -> int:
    """1 on the CPU (batching gains nothing there, and single images match the training evaluation's
    loader exactly), 8 on a GPU."""
    return 8 if device.startswith("cuda") else 1


def run_inference(
    model: nn.Module,
    images: PredictionImages,
    *,
    batch_size: int,
    workers: int,
    amp: bool = True,
    progress: bool = True,
) -> Iterator[Prediction]:
    """Yield one :class:`Prediction` per image of ``images``, in order.

    ``amp`` runs the model under ``torch.autocast`` (float16) when it is on a CUDA device; ignored on CPU.
    The progress bar shows images/s (tqdm's rate, unit "img").
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 but got {batch_size}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0 but got {workers}")
    device = next(model.parameters()).device
    loader = DataLoader(
        images,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_list,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.float16)
        if amp and device.type == "cuda"
        else contextlib.nullcontext()
    )
    bar = tqdm(total=len(images), unit="img", disable=not progress, dynamic_ncols=True, desc="predict")
    with torch.inference_mode(), bar:
        for batch in loader:
            good = [b for b in batch if "error" not in b]
            outputs: list[dict[str, Any]] = []
            if good:
                with autocast:
                    outputs = model(good)
            done = iter(outputs)
            for b in batch:
                info = {k: v for k, v in b.items() if k != "image"}
                if "error" in b:
                    yield Prediction(info, None, b["error"])
                else:
                    yield Prediction(info, next(done)["instances"].to("cpu"))
            bar.update(len(batch))

