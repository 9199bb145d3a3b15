"""One training run from a :class:`TrialSetup` and sampled values: shared by Tune trials and the CLI.

No Ray here: the single-run CLI (``python -m fashion_core.train``) must not need it.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from detectron2.config import CfgNode
from detectron2.utils import comm

from fashion_core.bundle_format import CONFIG_FILE, write_thresholds
from fashion_core.data import register_fashion_datasets
from fashion_core.engine.logs import log_to_file
from fashion_core.engine.seeding import seed_everything
from fashion_core.engine.setup import build_config
from fashion_core.engine.trainer import AttributeTrainer
from fashion_core.engine.trial_setup import TrialSetup

logger = logging.getLogger(__name__)

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
    cfg = run_config(setup, sampled, output_dir)
    (output_dir / CONFIG_FILE).write_text(cfg.dump())
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

    from fashion_core.engine.trainer import evaluate_model
    from fashion_core.evaluation.d2_evaluator import SWEEP_KEY
    from fashion_core.inference.bundle import build_predictor_model

    output_dir.mkdir(parents=True, exist_ok=True)
    cfg = run_config(setup, {}, output_dir, weights=weights)
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
        write_thresholds(output_dir, sweep)
    return metrics


def run_config(setup: TrialSetup, sampled: dict[str, Any], output_dir: Path, weights: str | None = None) -> CfgNode:
    """The frozen detectron2 config of one run, a trial's or a single one: the setup's base config and overrides
    for the ``sampled`` values (:meth:`TrialSetup.overrides`), ``weights`` as ``MODEL.WEIGHTS`` when given, the
    CPU where there is no CUDA, and the setup's datasets registered and named."""
    base, overrides = setup.overrides(sampled)
    if weights is not None:
        overrides.append(("MODEL.WEIGHTS", weights))
    train_name, test_name = register_fashion_datasets(setup.dataset)
    if not torch.cuda.is_available():
        # A trial scheduled on a (possibly fake) GPU node of a machine without CUDA trains on the CPU.
        overrides.append(("MODEL.DEVICE", "cpu"))
    return build_config(base, overrides, output_dir=output_dir, train_dataset=train_name, test_dataset=test_name,
                        seed=setup.seed_of(sampled))
