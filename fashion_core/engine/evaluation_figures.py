"""What an evaluation measures besides accuracy: inference time per image and the size of the model.

Every evaluation (so every Tune report, and ``--eval-only``'s ``evaluation.json``) carries

* ``time/inference_ms_per_image``: milliseconds of the model's forward calls per image during that
  evaluation's own inference pass (no extra pass), on the device the trial runs on;
* ``model/params``: the model's parameter count, frozen ones included (they cost inference time and
  memory too),

so that a multi-objective search can trade accuracy against speed or size out of the box
(``experiment.objectives`` in a space file). No torch import at module level: the search's preflight
reads :data:`EVALUATION_FIGURES` before anything heavy is loaded.
"""

from __future__ import annotations

import math
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

# The flat report keys (detectron2's flatten_results_dict of the nested dict below).
EVALUATION_FIGURES = ("time/inference_ms_per_image", "model/params")
# detectron2's inference_on_dataset leaves out up to this many first batches from its timing (warm-up:
# allocator growth, cuDNN autotuning); the timer does the same, so its figure matches detectron2's log line.
WARMUP_BATCHES = 5


class InferenceTimer:
    """Times every forward call of ``model`` while the ``with`` block runs (forward hooks, so detectron2's
    ``inference_on_dataset`` loop stays as it is), leaving out the first ``warmup`` calls.

    CUDA is synchronized before and after each call (kernels run asynchronously), as detectron2 does after.

    Args:
        model: the model (or its DistributedDataParallel wrapper) called once per batch, a batch being a
            list of image dicts.
        batches: the batches the pass will make; ``min(WARMUP_BATCHES, batches - 1)`` are warm-up.
    """

    def __init__(self, model: nn.Module, batches: int) -> None:
        self._model = model
        self._warmup = max(0, min(WARMUP_BATCHES, batches - 1))
        self._calls = 0
        self._images = 0
        self._seconds = 0.0
        self._start = 0.0
        self._handles: list[Any] = []

    def __enter__(self) -> InferenceTimer:
        self._handles = [
            self._model.register_forward_pre_hook(self._before),
            self._model.register_forward_hook(self._after),
        ]
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _before(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        _synchronize()
        self._start = time.perf_counter()

    def _after(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        _synchronize()
        self._calls += 1
        if self._calls > self._warmup:
            self._seconds += time.perf_counter() - self._start
            self._images += len(args[0]) if args and isinstance(args[0], list | tuple) else 1

    @property
    def ms_per_image(self) -> float:
        """Milliseconds per image over the timed calls; NaN when none was timed."""
        return 1000.0 * self._seconds / self._images if self._images else math.nan


def evaluation_figures(model: nn.Module, timer: InferenceTimer) -> dict[str, dict[str, float]]:
    """``{"time": {"inference_ms_per_image": ...}, "model": {"params": ...}}``, nested as detectron2's results."""
    params = sum(p.numel() for p in model.parameters())
    return {"time": {"inference_ms_per_image": timer.ms_per_image}, "model": {"params": float(params)}}


def _synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
