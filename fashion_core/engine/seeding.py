"""One seed for a run: model initialisation, data order and augmentation; optionally deterministic kernels.
(The torch thread count a checkpoint's numbers were computed with is recorded beside it:
:func:`fashion_core.bundle_format.recorded_threads`.)

detectron2 seeds nothing unless asked (``default_setup`` calls ``seed_all_rng``; this project does not
use ``default_setup``, whose logging and config dumping it does itself). ``seed_all_rng`` seeds Python's
``random``, numpy and torch; detectron2's ``TrainingSampler`` then draws its shuffling seed from numpy,
data-loader workers are seeded from torch's generator (``worker_init_reset_seed``), and augmentations
use numpy's global generator in the loading process: all follow from this one call.
"""

from __future__ import annotations

import logging
import os

import torch
from detectron2.utils.env import seed_all_rng

logger = logging.getLogger(__name__)


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed every generator a detectron2 run draws from; with ``deterministic``, ask for deterministic kernels.

    Args:
        seed: >= 0 (a negative seed, detectron2's "random" default, is refused: runs must be repeatable).
        deterministic: ``torch.use_deterministic_algorithms`` (warn-only: an op without a deterministic
            kernel warns instead of failing), cuDNN benchmark off and a fixed cuBLAS workspace. Only
            matters on a GPU; on the CPU the same seed already gives the same run.
    """
    if seed < 0:
        raise ValueError(f"SEED must be >= 0 for a repeatable run but got {seed}.")
    seed_all_rng(seed)
    if deterministic:
        # cuBLAS reads this when its handle is created, i.e. before the first CUDA matmul of the process.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        logger.info("deterministic kernels requested (torch.use_deterministic_algorithms, warn_only)")
