"""Batched inference over a :class:`PredictionImages` dataset: a DataLoader with workers, AMP on GPU.

Two ways to use the loader's worker processes, chosen by :func:`models_in_workers`:

* the model in the main process (GPU, or CPU with several threads per model): the workers decode and
  resize images while the model runs;
* a copy of the model in each worker (CPU, one thread per model): images are predicted in parallel,
  ``workers`` at a time, and each worker also converts its outputs (``convert``: RLE encoding and the
  like), so the main process only collects. On a 2-core machine this is about 1.5x the throughput of
  one model with 2 threads: the tiny convolutions of a detector at test resolution use a second
  intra-op thread poorly, a second image fully.

Either way the model gets lists of up to ``batch_size`` inputs (detectron2 pads a batch to its largest
image), and one :class:`Prediction` per image comes back, in input order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from detectron2.structures import Instances
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from .images import PredictionImages, collate_list

# What the caller turns one image's instances (on the CPU) into, given the image's input dict.
Convert = Callable[[dict[str, Any], Instances], Any]


@dataclass(frozen=True)
class Prediction:
    """One image's outcome: its input dict (without the image tensor) and ``convert``'s output, or the
    read error (``output`` None)."""

    item: dict[str, Any]
    output: Any
    error: str | None = None


def default_batch_size(device: str) -> int:
    """1 on the CPU (batching gains nothing there, and single images match the training evaluation's
    loader exactly), 8 on a GPU."""
    return 8 if device.startswith("cuda") else 1


def models_in_workers(device: str, workers: int, threads: int) -> bool:
    """Whether each loader worker runs its own copy of the model (see the module docstring).

    Only on the CPU, and only with one thread per model: workers are forked, and GNU OpenMP (torch's CPU
    thread pool) hangs a forked child that asks for several threads once the parent has used them.
    One thread per model is also what a search trial with one CPU computed its numbers with.
    """
    return device == "cpu" and workers > 0 and threads == 1


def run_inference(
    model: nn.Module,
    images: PredictionImages,
    convert: Convert,
    *,
    batch_size: int,
    workers: int,
    in_workers: bool = False,
    amp: bool = True,
    progress: bool = True,
) -> Iterator[Prediction]:
    """Yield one :class:`Prediction` per image of ``images``, in order.

    ``in_workers``: each of the ``workers`` loader processes runs a copy of the model (CPU only; see
    :func:`models_in_workers`); else they only decode. ``convert`` runs where the model ran, on the
    instances moved to the CPU; with ``in_workers`` it must return something picklable. ``amp`` runs the model under
    ``torch.autocast`` (float16) when it is on a CUDA device; ignored on CPU. The progress bar shows
    images/s (tqdm's rate, unit "img").
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 but got {batch_size}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0 but got {workers}")
    device = next(model.parameters()).device
    if in_workers and (device.type != "cpu" or workers == 0):
        raise ValueError(f"models in loader workers need the CPU and workers > 0, not {device} and {workers}")
    autocast = amp and device.type == "cuda"
    dataset: Dataset = _ModelOnImages(images, model, convert) if in_workers else images
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_list,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
        # Workers that run the model keep one batch ahead; decoding workers keep the model fed.
        prefetch_factor=(1 if in_workers else 4) if workers else None,
        # fork shares the model with the workers without pickling it (spawn would copy it to each).
        multiprocessing_context="fork" if in_workers else None,
    )
    bar = tqdm(total=len(images), unit="img", disable=not progress, dynamic_ncols=True, desc="predict")
    with bar:
        for batch in loader:
            yield from batch if in_workers else predict_batch(model, batch, convert, autocast=autocast)
            bar.update(len(batch))


def predict_batch(
    model: nn.Module, batch: list[dict[str, Any]], convert: Convert, *, autocast: bool = False
) -> list[Prediction]:
    """The model on the decoded images of ``batch`` (entries with ``"error"`` pass through), converted."""
    good = [b for b in batch if "error" not in b]
    outputs: list[dict[str, Any]] = []
    if good:
        amp = torch.autocast(device_type="cuda", dtype=torch.float16) if autocast else contextlib.nullcontext()
        with torch.inference_mode(), amp:
            outputs = model(good)
    done = iter(outputs)
    predictions = []
    for b in batch:
        info = {k: v for k, v in b.items() if k != "image"}
        if "error" in b:
            predictions.append(Prediction(info, None, b["error"]))
        else:
            predictions.append(Prediction(info, convert(info, next(done)["instances"].to("cpu"))))
    return predictions


class _ModelOnImages(Dataset):
    """The images' dataset with the model applied: what a loader worker that runs the model fetches.

    ``__getitems__`` (read by torch's DataLoader for a whole batch of indices) makes one forward pass
    per batch; the DataLoader has already set one torch thread in each worker.
    """

    def __init__(self, images: PredictionImages, model: nn.Module, convert: Convert) -> None:
        self.images = images
        self.model = model
        self.convert = convert

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Prediction:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[Prediction]:
        return predict_batch(self.model, [self.images[i] for i in indices], self.convert)
