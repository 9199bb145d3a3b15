"""The hook that evaluates, checkpoints and reports every ``period`` iterations.

One hook instead of detectron2's EvalHook + PeriodicCheckpointer, because a Tune report must
carry the metrics *and* the checkpoint of the same iteration: ASHA decides on the metrics, and a
trial restarted after a failure resumes from exactly the weights that produced them.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from detectron2.engine import HookBase
from detectron2.evaluation.testing import flatten_results_dict

from fashion_core.bundle_format import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointReport,
    write_report,
    write_thresholds,
)
from fashion_core.evaluation.d2_evaluator import SWEEP_KEY

logger = logging.getLogger(__name__)

# Receives the flat metrics of one evaluation and a function that writes the matching
# checkpoint into a given directory.
Reporter = Callable[[dict[str, float], Callable[[str], None]], None]

class EvaluateAndReport(HookBase):
    """Every ``period`` iterations and after the last one: evaluate, record, checkpoint, report.

    Args:
        period: iterations between two evaluations (``TEST.EVAL_PERIOD``).
        evaluate: runs the evaluation, returning detectron2's nested results
            (``{"segm": {"AP_iou_f1": ...}, ...}``).
        reporter: where the metrics go (Tune, or the plain CLI's checkpoint writer).
        started_at: ``time.perf_counter()`` when the run began (before datasets and model were
            built), so ``time/run_s`` covers set-up too; default: when this hook was made.
        write_events: writes the event storage out (TensorBoard, metrics.json) once the evaluation is in
            it, before the report: a trial may be stopped right after reporting.
    """

    def __init__(
        self,
        period: int,
        evaluate: Callable[[], Mapping[str, Any]],
        reporter: Reporter,
        started_at: float | None = None,
        write_events: Callable[[], None] | None = None,
    ) -> None:
        if period <= 0:
            raise ValueError(f"TEST.EVAL_PERIOD must be positive but got {period}")
        self._period = period
        self._evaluate = evaluate
        self._reporter = reporter
        self._write_events = write_events
        self._last_reported = -1
        self.train_seconds = 0.0
        self.eval_seconds = 0.0
        self._segment_start = time.perf_counter()
        self._started_at = started_at if started_at is not None else self._segment_start

    def before_train(self) -> None:
        self._segment_start = time.perf_counter()

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        if next_iter % self._period == 0 or next_iter == self.trainer.max_iter:
            self._run(next_iter)

    def _run(self, next_iter: int) -> None:
        if next_iter == self._last_reported:
            return
        self._last_reported = next_iter
        self.train_seconds += time.perf_counter() - self._segment_start
        start = time.perf_counter()
        nested = dict(self._evaluate())
        sweep = nested.pop(SWEEP_KEY, None)
        results = flatten_results_dict(nested)
        self.eval_seconds += time.perf_counter() - start
        metrics = {k: float(v) for k, v in results.items() if isinstance(v, int | float)}
        storage = self.trainer.storage
        # The training curves go to detectron2's own event files too (TensorBoard, metrics.json).
        storage.put_scalars(**metrics, smoothing_hint=False)
        if self._write_events is not None:
            self._write_events()
        metrics.update(self._training_figures(next_iter))
        non_finite = sorted(k for k, v in metrics.items() if "loss" in k and not math.isfinite(v))
        if non_finite:
            logger.warning("non-finite training losses at iteration %d: %s", next_iter, non_finite)

        def write_checkpoint(directory: str) -> None:
            checkpointer = self.trainer.checkpointer
            saved_dir = checkpointer.save_dir
            checkpointer.save_dir = directory
            try:
                # iteration = the last finished one, as detectron2's PeriodicCheckpointer records it; the
                # checkpointer adds ".pth" to the name.
                checkpointer.save(Path(WEIGHTS_FILE).stem, iteration=self.trainer.iter)
            finally:
                checkpointer.save_dir = saved_dir
            # The checkpoint is a complete model (fashion_core/bundle_format.py): the effective config travels with
            # the weights (search/report/bundle.py makes best/ from it, also from remote storage), with the thread
            # count of the numbers and the report's threshold table.
            (Path(directory) / CONFIG_FILE).write_text(self.trainer.cfg.dump())
            write_report(Path(directory), CheckpointReport(next_iter, torch.get_num_threads()))
            if sweep is not None:
                write_thresholds(Path(directory), dataclasses.replace(sweep, iteration=next_iter))

        self._reporter(metrics, write_checkpoint)
        self._segment_start = time.perf_counter()

    def _training_figures(self, next_iter: int) -> dict[str, float]:
        """Losses (median of the last 20 iterations), learning rate, time per iteration and totals."""
        storage = self.trainer.storage
        figures: dict[str, float] = {"iteration": float(next_iter)}
        for name, history in storage.histories().items():
            if name.startswith("loss") or name == "total_loss":
                figures[f"train/{name}"] = float(history.median(20))
        if "lr" in storage.histories():
            figures["train/lr"] = float(storage.history("lr").latest())
        if "time" in storage.histories():
            figures["time/iter_s"] = float(storage.history("time").median(20))
        # Wall time in training steps and in evaluations, and in the whole run so far (set-up,
        # checkpointing and reporting included): bench/search_overhead.py compares them.
        figures["time/train_s"] = self.train_seconds
        figures["time/eval_s"] = self.eval_seconds
        figures["time/run_s"] = time.perf_counter() - self._started_at
        return figures
