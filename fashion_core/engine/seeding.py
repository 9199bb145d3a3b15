"""One seed for a run: model initialisation, data order and augmentation; optionally deterministic kernels;
and the torch thread count a checkpoint's numbers were computed with.

detectron2 seeds nothing unless asked (``default_setup`` calls ``seed_all_rng``; this project does not
use ``default_setup``, whose logging and config dumping it does itself). ``seed_all_rng`` seeds Python's
``random``, numpy and torch; detectron2's ``TrainingSampler`` then draws its shuffling seed from numpy,
data-loader workers are seeded from torch's generator (``worker_init_reset_seed``), and augmentations
use numpy's global generator in the loading process: all follow from this one call.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

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


# Where a folder of weights records the thread count its numbers were computed with: a search's
# best/ bundle (search/report/bundle.py), or a checkpoint folder (engine/hooks.py's REPORT_FILE).
THREAD_RECORDS = ("metrics.json", "report.json")


def recorded_threads(folder: str | Path) -> int | None:
    """The torch intra-op thread count recorded beside a model's weights, or None.

    On the CPU, float sums (and so, at the 1e-4 level, AP) depend on it: re-evaluating or predicting
    with the same count gives the same numbers. A missing or unreadable record is None, not an error.
    """
    for name in THREAD_RECORDS:
        path = Path(folder).expanduser() / name
        if not path.is_file():
            continue
        try:
            threads = json.loads(path.read_text()).get("torch_threads")
        except (ValueError, AttributeError, RecursionError, OSError):
            continue
        if isinstance(threads, int) and not isinstance(threads, bool) and threads > 0:
            logger.info("%d torch thread(s), as for the numbers recorded in %s", threads, path)
            return threads
    return None
