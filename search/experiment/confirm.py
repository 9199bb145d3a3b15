"""The confirmation stage: re-run the search's best configs with more seeds, at the full budget.

A search ranks configs by one noisy run each, many of them cut short by ASHA. Two trials that drew the
same parameters can differ by more than the winner's margin, so the top ``experiment.confirm.top``
configs are trained again with ``experiment.confirm.seeds`` more seeds each (experiment seed + 1, + 2,
...), every run to ``asha.max_t`` reports, and the winner is chosen on the mean over seeds
(:mod:`search.report.results`). Ray Tune, Optuna and W&B sweeps leave this to the user; here it is the default.

The re-runs are a second Tune experiment, ``<experiment>/confirm``, with the same trainable and
resources, no scheduler (nothing is stopped early) and a searcher that hands out the exact configs,
so ``--resume`` continues it like the search, and confirms the new best configs of a grown one: the resumed
stage's searcher is rebuilt from the configs its trials ran, with the new ones after them
(:mod:`search.experiment.resume`), never read back from Tune's saved state.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher

from fashion_core.data import DatasetSpec
from fashion_core.engine.trial_setup import SEED_KEY
from search.experiment.console import TrialNamer
from search.experiment.location import experiment_path
from search.experiment.resume import resume_search, saved_trials
from search.experiment.signing import signed_tuner, verify_state
from search.experiment.tuner import build_run_config, build_trainable
from search.space import SearchSpec

logger = logging.getLogger(__name__)

# The confirmation experiment's folder, inside the search's.
CONFIRM_NAME = "confirm"


def confirmation_configs(table: pd.DataFrame, spec: SearchSpec) -> list[dict[str, Any]]:
    """The trial configs of the confirmation stage: the ``top`` best distinct configs of the search
    (finished trials with a value), each with seeds experiment seed + 1 ... + ``seeds``."""
    c = spec.experiment.confirm
    if c.top == 0 or table.empty:
        return []
    metric = spec.experiment.metric
    # Finished or stopped by ASHA: an early stop at low fidelity is exactly what confirmation re-checks.
    done = table[(table["stage"] == "search") & table["status"].isin(("TERMINATED", "STOPPED")) & table[metric].notna()]
    # Ties go to the earlier trial (names number them), not to the order Tune restored them in: a resumed
    # search then picks the configs it picked before, and its confirmation adds none (resume_confirmation).
    done = done.sort_values([metric, "trial"], ascending=[spec.experiment.mode == "min", True], kind="mergesort")
    configs: list[dict[str, Any]] = []
    for key in dict.fromkeys(done["config"]):
        if len(configs) == c.top * c.seeds:
            break
        sampled = json.loads(key)
        configs += [{**sampled, SEED_KEY: spec.experiment.seed + k} for k in range(1, c.seeds + 1)]
    return configs


def run_confirmation(
    spec: SearchSpec,
    dataset: DatasetSpec,
    exp_path: str,
    configs: list[dict[str, Any]],
    *,
    resume: bool,
    verbose: bool = False,
) -> tune.ResultGrid:
    """Train every config of ``configs`` to the full budget (a new or resumed ``<exp_path>/confirm``)."""
    if resume and tune.Tuner.can_restore(experiment_path(exp_path, CONFIRM_NAME)):
        return resume_confirmation(spec, dataset, exp_path, configs).fit()
    e = spec.experiment
    print(
        f"\n=== confirmation: the best {len(configs) // e.confirm.seeds} configs again with {e.confirm.seeds} more "
        f"seed(s) each, {e.asha.max_t} reports ({len(configs)} trials) ===",
        flush=True,
    )
    run_config = build_run_config(spec, exp_path, verbose=verbose, stage="confirm")
    run_config.name = CONFIRM_NAME
    tuner = signed_tuner(
        build_trainable(spec, dataset),
        tune_config=_tune_config(spec, FixedConfigs(configs), len(configs)),
        run_config=run_config,
    )
    return tuner.fit()


def _tune_config(spec: SearchSpec, searcher: FixedConfigs, num_samples: int) -> tune.TuneConfig:
    """The confirmation stage's: ``searcher``'s configs, no scheduler (every run to the full budget)."""
    e = spec.experiment
    return tune.TuneConfig(
        metric=e.metric,
        mode=e.mode,
        num_samples=num_samples,
        search_alg=ConcurrencyLimiter(searcher, max_concurrent=e.max_concurrent),
        trial_name_creator=TrialNamer("c"),
        trial_dirname_creator=TrialNamer("c"),
    )


def restore_confirmation(spec: SearchSpec, dataset: DatasetSpec, exp_path: str) -> tune.Tuner:
    """The confirmation stage's Tuner as saved in ``<exp_path>/confirm`` (unfinished trials resume), its state
    checked against its signatures first (:mod:`.signing`)."""
    path = experiment_path(exp_path, CONFIRM_NAME)
    verify_state(path)
    return tune.Tuner.restore(
        path, trainable=build_trainable(spec, dataset), resume_unfinished=True, resume_errored=False
    )


def resume_confirmation(spec: SearchSpec, dataset: DatasetSpec, exp_path: str,
                        configs: list[dict[str, Any]]) -> tune.Tuner:
    """:func:`restore_confirmation` that goes on to run ``configs`` too: the ones its trials ran, then those of
    ``configs`` it has not run (a grown search may have found new best configs), each once."""
    logger.info("resuming the confirmation stage at %s", experiment_path(exp_path, CONFIRM_NAME))
    tuner = restore_confirmation(spec, dataset, exp_path)
    trials = saved_trials(tuner)
    ran = list(trials.configs)
    new = [c for c in configs if c not in ran]
    if new:
        print(f"\n=== confirmation: {len(new)} more trial(s), for best configs the grown search found ===", flush=True)
    searcher = FixedConfigs(ran + new, handed_out=len(ran))
    resume_search(tuner, _tune_config(spec, searcher, len(ran + new)), trials, len(ran + new))
    return tuner


class FixedConfigs(Searcher):
    """Hands out each of a fixed list of trial configs once, then FINISHED.

    Written here because Tune's ``BasicVariantGenerator(points_to_evaluate=...)`` only overrides keys of a
    ``param_space``, and a conditional space gives configs with different keys.

    Args:
        configs: the configs, in the order they are handed out.
        handed_out: how many of them were handed out already (a resumed stage's trials ran them).
    """

    def __init__(self, configs: list[dict[str, Any]], handed_out: int = 0) -> None:
        super().__init__()
        self._configs = [dict(c) for c in configs]
        self._next = handed_out

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self._next >= len(self._configs):
            return Searcher.FINISHED  # type: ignore[return-value]  # Tune's sentinel, typed as a dict
        self._next += 1
        return dict(self._configs[self._next - 1])

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        """Nothing to learn: the configs are fixed."""

    def save(self, checkpoint_path: str) -> None:
        """What Tune saves with the experiment (JSON); ``--resume`` rebuilds the searcher instead of reading it
        (:func:`resume_confirmation`)."""
        Path(checkpoint_path).write_text(json.dumps({"configs": self._configs, "next": self._next}))
