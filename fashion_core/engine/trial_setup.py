"""The contract between a search and the training engine, free of torch and detectron2 imports.

A search (``search/``) describes every trial of an experiment with one :class:`TrialSetup` and each
trial with its sampled values (parameter name -> value); :func:`fashion_core.engine.run.run_training`
turns the two into a detectron2 config and a training. The space file's validation imports the
names here (``CONFIG_KEY``, ``SEED_KEY``) without pulling in torch: checking a space takes well under
a second, and a head node may validate spaces without the training stack loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fashion_core.data import DatasetSpec

__all__ = ["CONFIG_KEY", "SEED_KEY", "Sweep", "TrialSetup"]

# The pseudo-key of a searched parameter that picks the base config file instead of setting a detectron2 key.
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
            from fashion_core.engine.schedule import trial_schedule  # detectron2: imported when a trial runs

            schedule = trial_schedule(config, max_iter, keep=[key for key, _ in overrides])
            overrides += [("SOLVER.MAX_ITER", max_iter), ("TEST.EVAL_PERIOD", self.iters_per_report), *schedule]
        return config, overrides

    def seed_of(self, sampled: dict[str, Any]) -> int:
        """The seed of one trial: its config's ``seed`` entry, else the experiment's."""
        return int(sampled.get(SEED_KEY, self.seed))
