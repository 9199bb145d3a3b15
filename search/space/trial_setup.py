"""From a validated space to what the engine trains every trial of it with: one :class:`TrialSetup`.

The tuner hands it to every trial (:mod:`search.experiment.tuner`) and the preflight builds every base
config the space can select with it (:mod:`search.checks.preflight`), so what was checked is what runs.
``fashion_core.engine.trial_setup`` imports no torch: neither does this.
"""

from __future__ import annotations

import dataclasses

from fashion_core.data import DatasetSpec
from fashion_core.engine.trial_setup import TrialSetup
from search.space.spec import SearchSpec


def trial_setup(spec: SearchSpec, dataset: DatasetSpec | None, *, config: str | None = None) -> TrialSetup:
    """The plain data every trial of ``spec`` receives.

    Args:
        dataset: the data every trial trains and evaluates on; None where only a trial's overrides are built
            (the preflight: no trial runs).
        config: a base config instead of ``train.config`` (the preflight builds each one a parameter can pick).
    """
    th = spec.experiment.thresholds
    setup = TrialSetup(
        config=spec.train.config,
        fixed=spec.train.opts,
        param_keys=tuple((p.name, p.key) for p in spec.params),
        dataset=dataset,  # type: ignore[arg-type]  # None only where no trial runs (see Args)
        iters_per_report=spec.train.iters_per_report,
        max_reports=spec.experiment.asha.max_t,
        seed=spec.experiment.seed,
        sweep=(th.score_grid, th.attribute_grid) if th.mode == "posthoc" else None,
        metric=spec.experiment.metric,
        mode=spec.experiment.mode,
    )
    return dataclasses.replace(setup, config=config) if config is not None else setup
