"""What the GPU benchmark measures and with which settings: targets, variants, stages, ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# The entry point; workers are this script started again with ``--worker``.
ENTRY = Path(__file__).with_name("gpu_bench.py")

# Acceptance targets of the issue (measured on an H100-class card).
TARGET_OVERHEAD_PCT = 5.0
TARGET_PACKED_RATIO = 1.3
TARGET_TRAIN_IMS = 25.0

HEAD = "MODEL.ROI_ATTRIBUTE_HEAD."
# Training variants: extra config overrides over the packaged config (whose default head is shared 2-FC).
VARIANTS: dict[str, list[tuple[str, Any]]] = {
    "none": [(HEAD + "ENABLED", False)],
    "shared": [(HEAD + "PER_CLASS", False)],
    "per_class": [(HEAD + "PER_CLASS", True)],
}
# In order of the acceptance figures first, should the budget run short.
STAGES = ("train_shared", "train_none", "packed", "train_per_class", "infer")
TRAIN_NAME, VAL_NAME = "gpu_bench_train", "gpu_bench_val"
# Longest each stage may take (seconds), within what is left of --budget-s.
STAGE_LIMIT_S = {"train": 150.0, "packed": 210.0, "infer": 150.0}
MIN_STAGE_S = 30.0  # a stage with less time left than this is skipped rather than started


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs, written to JSON by the parent (plain data only)."""

    device: str
    tiny: bool
    config: str
    batch: int
    warmup: int
    iters: int
    workers: int
    amp: bool
    seed: int
    min_size_train: int
    max_size_train: int
    min_size_test: int
    max_size_test: int
    infer_warmup: int
    base_lr: float
    proposals_per_object: int
    train_json: str = ""
    val_json: str = ""
    output_dir: str = ""

    def overrides(self, variant: str) -> list[tuple[str, Any]]:
        """Config overrides of one training/inference run (``build_config`` checks they are in effect)."""
        opts: list[tuple[str, Any]] = [
            ("MODEL.WEIGHTS", ""),  # no network there; random init (see calibrate_frozen_bn)
            # Small enough that the random-init model stays finite for the few steps timed (the warm-up
            # spans the whole short run, so the config's 0.02 would be reached); the work per step is the same.
            ("SOLVER.BASE_LR", self.base_lr),
            ("MODEL.DEVICE", self.device),
            ("SOLVER.AMP.ENABLED", self.amp),
            ("SOLVER.IMS_PER_BATCH", self.batch),
            ("SOLVER.MAX_ITER", self.warmup + self.iters),
            ("DATALOADER.NUM_WORKERS", self.workers),
            ("INPUT.MIN_SIZE_TRAIN", (self.min_size_train,)),
            ("INPUT.MAX_SIZE_TRAIN", self.max_size_train),
            ("INPUT.MIN_SIZE_TEST", self.min_size_test),
            ("INPUT.MAX_SIZE_TEST", self.max_size_test),
            ("TEST.EVAL_PERIOD", 0),
        ]
        return opts + VARIANTS[variant]
