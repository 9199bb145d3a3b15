"""A trial's learning-rate schedule, scaled to its own iteration budget.

A search trial trains for ``SOLVER.MAX_ITER = max_t x iters_per_report`` iterations, far fewer than the base
config's (detectron2's 1x: 90,000). Keeping the base ``SOLVER.STEPS`` would leave every trial at a constant
learning rate (detectron2 drops the steps past MAX_ITER with a warning), so the search would tune ``BASE_LR``
for a schedule no final model uses. Instead each step and the warm-up keep their *fraction* of MAX_ITER:

    step_i' = round(step_i / MAX_ITER_base x MAX_ITER_trial)     (1x: 2/3 and 8/9 of MAX_ITER)
    WARMUP_ITERS' = round(WARMUP_ITERS / MAX_ITER_base x MAX_ITER_trial)

A key the space sets itself (``train.opts`` or ``params``) is kept as given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from detectron2.config import CfgNode

from fashion_core.engine.setup import resolve_config
from fashion_core.modeling import build_attribute_cfg

__all__ = ["SCHEDULE_KEYS", "scaled_schedule", "trial_schedule"]

# The keys scaled_schedule may set; a space that sets one keeps its own value.
SCHEDULE_KEYS = ("SOLVER.STEPS", "SOLVER.WARMUP_ITERS")


def scaled_schedule(base: CfgNode, max_iter: int, keep: Iterable[str] = ()) -> list[tuple[str, Any]]:
    """``(KEY, value)`` overrides that scale ``base``'s steps and warm-up to ``max_iter`` iterations.

    Args:
        base: the base config (its ``SOLVER.STEPS``, ``SOLVER.WARMUP_ITERS`` and ``SOLVER.MAX_ITER``).
        max_iter: the trial's ``SOLVER.MAX_ITER`` (>= 1).
        keep: config keys set explicitly for the trial; those of ``SCHEDULE_KEYS`` are not overridden.

    Raises:
        ValueError: ``max_iter`` is too small to hold the base steps as distinct iterations in
            ``[1, max_iter)``, which detectron2's multi-step scheduler requires.
    """
    solver = base.SOLVER
    base_iter = int(solver.MAX_ITER)
    if base_iter < 1 or max_iter < 1:
        raise ValueError(f"SOLVER.MAX_ITER must be >= 1 but got {base_iter} (base) and {max_iter} (trial).")
    keep = set(keep)
    out: list[tuple[str, Any]] = []
    if "SOLVER.STEPS" not in keep:
        # Steps past the base MAX_ITER never act on the base schedule either (detectron2 drops them).
        steps = tuple(round(s * max_iter / base_iter) for s in solver.STEPS if s <= base_iter)
        if any(s < 1 or s >= max_iter for s in steps) or list(steps) != sorted(set(steps)):
            raise ValueError(
                f"SOLVER.MAX_ITER = {max_iter} is too short for the base schedule SOLVER.STEPS = "
                f"{tuple(solver.STEPS)} of {base_iter} iterations: scaled steps {steps} are not distinct "
                "iterations in [1, MAX_ITER); raise iters_per_report or set SOLVER.STEPS in train.opts."
            )
        out.append(("SOLVER.STEPS", steps))
    if "SOLVER.WARMUP_ITERS" not in keep:
        out.append(("SOLVER.WARMUP_ITERS", min(round(solver.WARMUP_ITERS * max_iter / base_iter), max_iter)))
    return out


def trial_schedule(config: str, max_iter: int, keep: Iterable[str] = ()) -> list[tuple[str, Any]]:
    """:func:`scaled_schedule` of the base config file ``config`` (a packaged name or a YAML path)."""
    return scaled_schedule(build_attribute_cfg(resolve_config(config)), max_iter, keep)
