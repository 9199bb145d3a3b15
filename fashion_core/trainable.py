"""The Ray Tune function trainable: one trial = one detectron2 training of the attribute Mask R-CNN.

Everything a trial needs arrives as plain data (:class:`TrialSetup`, passed once through
``tune.with_parameters``) plus the trial's sampled values (Tune's ``config``). The trial registers
its datasets itself, because Ray runs it in a fresh worker process.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from fashion_core.engine.run import TrialSetup, run_training

__all__ = ["TrialSetup", "report_to_tune", "train_trial"]

logger = logging.getLogger(__name__)


def train_trial(config: dict[str, Any], setup: TrialSetup) -> None:
    """Tune entry point: train, evaluating and reporting (with a checkpoint) every ``iters_per_report``."""
    output_dir = Path(tune.get_context().get_trial_dir()) / "train"
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        # Puts model.pth and detectron2's last_checkpoint pointer where the trainer resumes from.
        checkpoint.to_directory(str(output_dir))
        logger.info("resuming from Tune checkpoint %s", checkpoint.path)
    run_training(config, setup, output_dir, reporter=report_to_tune, resume=checkpoint is not None)


def report_to_tune(metrics: dict[str, float], write_checkpoint: Callable[[str], None]) -> None:
    """Report ``metrics`` with the checkpoint of the same iteration (Tune copies it to storage)."""
    with tempfile.TemporaryDirectory(prefix="fashion-tune-ckpt-") as directory:
        write_checkpoint(directory)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
