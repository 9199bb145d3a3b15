"""One training run from a :class:`TrialSetup` and sampled values: shared by Tune trials and the CLI.

No Ray here: the single-run CLI (``python -m fashion_core.train``) must not need it.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fashion_core.data import DatasetSpec, register_fashion_datasets
from fashion_core.engine.schedule import trial_schedule
from fashion_core.engine.setup import build_config
from fashion_core.engine.trainer import AttributeTrainer, Sweep

logger = logging.getLogger(__name__)

# The pseudo-key of a searched parameter that picks the base config file (see search/space.py).
CONFIG_KEY = "CONFIG"


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of one experiment shares.

    Attributes:
        config: base config (packaged name or path) unless a parameter with key ``CONFIG`` picks one.
        fixed: ``(KEY, value)`` overrides every trial gets, before the sampled ones.
        param_keys: ``(parameter name, config key)`` for every searched parameter.
        dataset: the data every trial trains and evaluates on.
        iters_per_report: training iterations between two evaluations/reports (0: keep the config's
            ``TEST.EVAL_PERIOD`` and ``SOLVER.MAX_ITER``, as a single run does).
        max_reports: the most reports a trial makes (ASHA's ``max_t``); sets ``SOLVER.MAX_ITER``.
        seed: detectron2's seed, the same for every trial so differences come from the parameters.
        sweep: (class-score thresholds, attribute thresholds) searched post hoc at every evaluation
            (reported under ``thresholds/``); None when thresholds are sampled or fixed.
        metric / mode: the ranking metric, which a diverged trial reports as its worst value.
    """

    config: str
    fixed: tuple[tuple[str, Any], ...]
    param_keys: tuple[tuple[str, str], ...]
    dataset: DatasetSpec
    iters_per_report: int
    max_reports: int
    seed: int = 0
    sweep: Sweep | None = None
    metric: str = ""
    mode: str = "max"

    def overrides(self, sampled: dict[str, Any]) -> tuple[str, list[tuple[str, Any]]]:
        """(base config, ordered overrides) for the sampled values of one trial.

        Trials also get ``SOLVER.STEPS`` and ``SOLVER.WARMUP_ITERS`` scaled to their MAX_ITER, unless set
        in ``fixed`` or ``sampled`` (:func:`fashion_core.engine.schedule.scaled_schedule`).

        Raises:
            KeyError: ``sampled`` names a parameter this experiment does not search.
            ValueError: the budget is too short for the base config's steps.
        """
        keys = dict(self.param_keys)
        unknown = sorted(set(sampled) - set(keys))
        if unknown:
            raise KeyError(f"sampled parameter {unknown[0]!r} is not in the search space (known: {sorted(keys)})")
        config = self.config
        overrides = list(self.fixed)
        for name, value in sampled.items():
            if keys[name] == CONFIG_KEY:
                config = str(value)
            else:
                overrides.append((keys[name], value))
        if self.iters_per_report > 0:  # 0: a single run that keeps the config's schedule
            max_iter = self.iters_per_report * self.max_reports
            # Steps and warm-up at the base config's fractions of MAX_ITER (engine/schedule.py).
            schedule = trial_schedule(config, max_iter, keep=[key for key, _ in overrides])
            overrides += [("SOLVER.MAX_ITER", max_iter), ("TEST.EVAL_PERIOD", self.iters_per_report), *schedule]
        return config, overrides


def run_training(
    sampled: dict[str, Any],
    setup: TrialSetup,
    output_dir: Path,
    reporter: Callable[[dict[str, float], Callable[[str], None]], None],
    resume: bool = False,
) -> None:
    """Train one configuration into ``output_dir``.

    With ``resume``, training continues from the checkpoint in ``output_dir`` (detectron2's
    ``last_checkpoint`` pointer), iteration counter, optimizer and LR schedule included.
    """
    started_at = time.perf_counter()
    output_dir.mkdir(parents=True, exist_ok=True)
    base, overrides = setup.overrides(sampled)
    train_name, test_name = register_fashion_datasets(setup.dataset)
    if not torch.cuda.is_available():
        # A trial scheduled on a (possibly fake) GPU node of a machine without CUDA trains on the CPU.
        overrides.append(("MODEL.DEVICE", "cpu"))
    cfg = build_config(
        base, overrides, output_dir=output_dir, train_dataset=train_name, test_dataset=test_name, seed=setup.seed
    )
    (output_dir / "config.yaml").write_text(cfg.dump())
    trainer = AttributeTrainer(cfg, reporter, sweep=setup.sweep, started_at=started_at)
    try:
        trainer.resume_or_load(resume=resume)
        trainer.train()
    finally:
        # Release the GPU for the next trial in this worker process.
        del trainer
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
