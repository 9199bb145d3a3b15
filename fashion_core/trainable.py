"""The Ray Tune function trainable: one trial = one detectron2 training of the attribute Mask R-CNN.

Everything a trial needs arrives as plain data (:class:`TrialSetup`, passed once through
``tune.with_parameters``) plus the trial's sampled values (Tune's ``config``). The trial registers
its datasets itself, because Ray runs it in a fresh worker process.

Faults (docs/what-survives-what.md):

* A diverged configuration (detectron2 raises ``FloatingPointError`` on a non-finite loss) ends
  the trial normally with a last report that says ``diverged: 1`` and why, and ranks it last:
  retrying would diverge again.
* Any other exception (CUDA out of memory, a bad value) errors the trial; Tune records the error,
  retries it from its last checkpoint up to ``experiment.max_failures`` times, and the search goes on.
* A checkpoint that cannot be read falls back to the previous one of the trial, with a warning.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from fashion_core.bundle_format import WEIGHTS_FILE
from fashion_core.engine.logs import log_to_file
from fashion_core.engine.run import run_training
from fashion_core.engine.trial_setup import TrialSetup

__all__ = ["TrialSetup", "TuneReporter", "train_trial"]

logger = logging.getLogger(__name__)


def train_trial(config: dict[str, Any], setup: TrialSetup) -> None:
    """Tune entry point: train, evaluating and reporting (with a checkpoint) every ``iters_per_report``."""
    trial_dir = Path(tune.get_context().get_trial_dir())
    output_dir = trial_dir / "train"
    with log_to_file(output_dir):  # a fallback to an older checkpoint is told in the trial's log
        resume = restore_checkpoint(tune.get_checkpoint(), trial_dir, output_dir)
    reporter = TuneReporter(setup)
    try:
        # TensorBoard events in the trial's own folder: TensorBoard names the run after the trial.
        run_training(config, setup, output_dir, reporter=reporter, resume=resume, events_dir=trial_dir)
    except FloatingPointError as exc:
        reporter.report_diverged(exc)


class TuneReporter:
    """Reports each evaluation to Tune with the checkpoint of the same iteration, and a divergence."""

    def __init__(self, setup: TrialSetup) -> None:
        self.setup = setup
        self.last: dict[str, Any] = {}

    def __call__(self, metrics: dict[str, float], write_checkpoint: Callable[[str], None]) -> None:
        self.last = dict(metrics)
        with tempfile.TemporaryDirectory(prefix="fashion-tune-ckpt-") as directory:
            write_checkpoint(directory)
            # Tune copies the folder into the trial's storage before report() returns.
            tune.report({**metrics, "diverged": 0}, checkpoint=tune.Checkpoint.from_directory(directory))

    def report_diverged(self, exc: FloatingPointError) -> None:
        """The last report of a diverged trial: its last metrics, ranked worst, with the reason."""
        reason = str(exc).splitlines()[0] if str(exc) else "non-finite loss"
        match = re.search(r"iteration=(\d+)", reason)
        logger.warning("trial diverged: %s", reason)
        metrics: dict[str, Any] = {**self.last, "diverged": 1, "diverged_reason": reason}
        if match:
            metrics["iteration"] = float(match.group(1))
        if self.setup.metric:
            metrics[self.setup.metric] = -math.inf if self.setup.mode == "max" else math.inf
        tune.report(metrics)


def restore_checkpoint(checkpoint: tune.Checkpoint | None, trial_dir: Path, output_dir: Path) -> bool:
    """Put the newest readable checkpoint of the trial into ``output_dir``; True if there was one.

    Tune hands over the latest checkpoint; when its ``model.pth`` is truncated or corrupt, the
    trial's earlier checkpoints (``checkpoint_NNNNNN`` beside it in the trial's storage folder, newest
    first) are tried in turn. ``trial_dir`` is searched too; it is Tune's local trial folder, which is
    not where checkpoints are stored (the storage path is), hence the checkpoint's own parent first.
    """
    if checkpoint is None:
        return False
    candidates = [Path(checkpoint.path)] if "://" not in checkpoint.path else []
    folders = dict.fromkeys([*(p.parent for p in candidates), trial_dir])
    # Only older ones: a newer folder is a checkpoint whose report Tune never recorded (interrupted).
    handed_over = Path(checkpoint.path).name
    candidates += sorted(
        (p for folder in folders for p in folder.glob("checkpoint_*") if p.is_dir() and p.name < handed_over),
        key=lambda p: p.name,
        reverse=True,
    )
    seen: set[Path] = set()
    for candidate in candidates:
        if candidate in seen:
            continue
        seen.add(candidate)
        problem = checkpoint_problem(candidate / WEIGHTS_FILE)
        if problem is None:
            tune.Checkpoint.from_directory(str(candidate)).to_directory(str(output_dir))
            if candidate != Path(checkpoint.path):
                logger.warning("latest checkpoint %s is unreadable; resuming from %s", checkpoint.path, candidate)
            else:
                logger.info("resuming from Tune checkpoint %s", candidate)
            return True
        logger.warning("skipping checkpoint %s: %s", candidate, problem)
    if "://" in checkpoint.path:
        # Remote storage: Tune downloads the latest; its content is checked by the trainer's load.
        checkpoint.to_directory(str(output_dir))
        return True
    logger.warning("no readable checkpoint for this trial; it starts over")
    return False


def checkpoint_problem(path: Path) -> str | None:
    """None if ``path`` is a readable detectron2 checkpoint, else what is wrong with it.

    Loads with ``weights_only=True``: a checkpoint is never a way to run code.
    """
    import torch

    if not path.is_file():
        return f"{path.name} is missing"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any load failure means "unreadable"
        return f"cannot be read ({type(exc).__name__}: {exc})"
    if not isinstance(state, dict) or "model" not in state:
        return "holds no model state"
    return None
