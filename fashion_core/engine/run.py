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
from detectron2.utils import comm

from fashion_core.data import DatasetSpec, register_fashion_datasets
from fashion_core.engine.logs import log_to_file
from fashion_core.engine.schedule import trial_schedule
from fashion_core.engine.seeding import seed_everything
from fashion_core.engine.setup import build_config
from fashion_core.engine.trainer import AttributeTrainer

logger = logging.getLogger(__name__)

# The pseudo-key of a searched parameter that picks the base config file (see search/space.py).
CONFIG_KEY = "CONFIG"
# The key of a trial's config that replaces the experiment's seed (the confirmation stage's re-runs).
SEED_KEY = "seed"

# (class-score thresholds, attribute thresholds) of a post-hoc threshold search.
Sweep = tuple[tuple[float, ...], tuple[float, ...]]


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
        seed: the seed of model initialisation, data order and augmentation (``SEED``), the same for
            every trial so differences come from the parameters; a trial config's ``seed`` entry
            replaces it (the confirmation stage re-runs configs with other seeds).
        sweep: (class-score thresholds, attribute thresholds) searched post hoc at every evaluation
            (reported under ``thresholds/``; ``TEST.THRESHOLD_SWEEP``); None when thresholds are
            sampled or fixed.
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
        unknown = sorted(set(sampled) - set(keys) - {SEED_KEY})
        if unknown:
            raise KeyError(f"sampled parameter {unknown[0]!r} is not in the search space (known: {sorted(keys)})")
        config = self.config
        overrides = list(self.fixed)
        if self.sweep is not None:
            overrides += [
                ("TEST.THRESHOLD_SWEEP.SCORE_GRID", list(self.sweep[0])),
                ("TEST.THRESHOLD_SWEEP.ATTRIBUTE_GRID", list(self.sweep[1])),
            ]
        for name, value in sampled.items():
            if name == SEED_KEY:
                continue
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

    def seed_of(self, sampled: dict[str, Any]) -> int:
        """The seed of one trial: its config's ``seed`` entry, else the experiment's."""
        return int(sampled.get(SEED_KEY, self.seed))


def run_training(
    sampled: dict[str, Any],
    setup: TrialSetup,
    output_dir: Path,
    reporter: Callable[[dict[str, float], Callable[[str], None]], None],
    resume: bool = False,
    events_dir: Path | None = None,
) -> None:
    """Train one configuration into ``output_dir`` (its log in ``output_dir/log.txt``).

    With ``resume``, training continues from the checkpoint in ``output_dir`` (detectron2's
    ``last_checkpoint`` pointer), iteration counter, optimizer and LR schedule included.
    ``events_dir``: where the TensorBoard events go (default ``output_dir``; a trial's own folder, so
    TensorBoard names the run after the trial).
    """
    started_at = time.perf_counter()
    output_dir.mkdir(parents=True, exist_ok=True)
    base, overrides = setup.overrides(sampled)
    train_name, test_name = register_fashion_datasets(setup.dataset)
    if not torch.cuda.is_available():
        # A trial scheduled on a (possibly fake) GPU node of a machine without CUDA trains on the CPU.
        overrides.append(("MODEL.DEVICE", "cpu"))
    cfg = build_config(
        base,
        overrides,
        output_dir=output_dir,
        train_dataset=train_name,
        test_dataset=test_name,
        seed=setup.seed_of(sampled),
    )
    (output_dir / "config.yaml").write_text(cfg.dump())
    # Before the trainer builds the model and the data loader: initial weights, data order and
    # augmentation all follow SEED. Each process of a distributed run gets SEED + rank, as
    # detectron2's default_setup does: its own augmentation draws (DDP broadcasts rank 0's weights).
    seed_everything(cfg.SEED + comm.get_rank(), deterministic=cfg.DETERMINISTIC)
    with log_to_file(output_dir):
        trainer = AttributeTrainer(cfg, reporter, started_at=started_at, events_dir=events_dir)
        try:
            trainer.resume_or_load(resume=resume)
            trainer.train()
        finally:
            # Release the GPU for the next trial in this worker process.
            del trainer
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def run_evaluation(setup: TrialSetup, output_dir: Path, weights: str | None = None) -> dict[str, float]:
    """Evaluate a trained model once, as a trial's report does; returns the flat metrics.

    Writes ``evaluation.json`` (the metrics) and, when the config asks for a threshold sweep,
    ``thresholds.json`` (the whole table, as beside a trial's checkpoint) into ``output_dir``.

    Args:
        setup: config, overrides and dataset (``iters_per_report`` 0: the config as it is).
        output_dir: where the two files go.
        weights: a checkpoint path; None: the config's ``MODEL.WEIGHTS`` (which must name one).
    """
    import json

    from detectron2.evaluation.testing import flatten_results_dict

    from fashion_core.engine.hooks import THRESHOLDS_FILE
    from fashion_core.engine.trainer import evaluate_model
    from fashion_core.evaluation.d2_evaluator import SWEEP_KEY
    from fashion_core.inference.bundle import build_predictor_model

    output_dir.mkdir(parents=True, exist_ok=True)
    base, overrides = setup.overrides({})
    if weights is not None:
        overrides.append(("MODEL.WEIGHTS", weights))
    train_name, test_name = register_fashion_datasets(setup.dataset)
    if not torch.cuda.is_available():
        overrides.append(("MODEL.DEVICE", "cpu"))
    cfg = build_config(
        base, overrides, output_dir=output_dir, train_dataset=train_name, test_dataset=test_name, seed=setup.seed
    )
    if not cfg.MODEL.WEIGHTS:
        raise ValueError("evaluation needs weights: MODEL.WEIGHTS is empty in the config; pass --weights")
    seed_everything(cfg.SEED, deterministic=cfg.DETERMINISTIC)
    # Every parameter must come from the checkpoint (as for predict): a tensor that kept its random init
    # would give numbers that look normal.
    model = build_predictor_model(cfg)
    nested = dict(evaluate_model(cfg, model))
    sweep = nested.pop(SWEEP_KEY, None)
    metrics = {k: float(v) for k, v in flatten_results_dict(nested).items() if isinstance(v, int | float)}
    (output_dir / "evaluation.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
    if sweep is not None:
        (output_dir / THRESHOLDS_FILE).write_text(json.dumps(sweep, indent=1))
    return metrics
