"""Assemble the Ray Tune experiment: Optuna TPE behind a concurrency limit, ASHA, resources, storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import FIFOScheduler
from ray.tune.search import ConcurrencyLimiter

from fashion_core.data import DatasetSpec
from fashion_core.trainable import TrialSetup, train_trial
from search.experiment.asha import ResumableASHAScheduler
from search.experiment.console import TrialNamer, console_options
from search.experiment.signing import signed_tuner, verify_state
from search.experiment.tensorboard import HparamsLogger
from search.space import DefineByRun, SearchSpec, trial_resources
from search.study import StudySearch, open_storage, sampler_seed


def trial_setup(spec: SearchSpec, dataset: DatasetSpec) -> TrialSetup:
    """The plain data every trial receives."""
    th = spec.experiment.thresholds
    return TrialSetup(
        config=spec.train.config,
        fixed=spec.train.opts,
        param_keys=tuple((p.name, p.key) for p in spec.params),
        dataset=dataset,
        iters_per_report=spec.train.iters_per_report,
        max_reports=spec.experiment.asha.max_t,
        seed=spec.experiment.seed,
        sweep=(th.score_grid, th.attribute_grid) if th.mode == "posthoc" else None,
        metric=spec.experiment.metric,
        mode=spec.experiment.mode,
    )


def build_trainable(spec: SearchSpec, dataset: DatasetSpec) -> Any:
    """``train_trial`` with its setup bound and the per-trial resources of the space.

    Resources are a function of the trial's sampled config (``search.space.resources``), so that
    e.g. an X101 trial takes a whole GPU where an R50 trial takes half.
    """
    return tune.with_resources(tune.with_parameters(train_trial, setup=trial_setup(spec, dataset)),
                               trial_resources(spec))


def build_tune_config(spec: SearchSpec, storage_url: str | None = None, *, sampler: str = "tpe",
                      early_stopping: bool = True) -> tune.TuneConfig:
    """Seeded TPE (define-by-run, for conditional parameters) + ASHA on ``training_iteration`` (reports).

    The Optuna study is ``storage_url``'s study named after the experiment (:mod:`search.study`); None
    keeps it in memory (library callers and tests; ``search.run`` always gives a database).

    With ``experiment.objectives``, TPE gets every objective (a study with several directions) while
    ASHA, Tune's ranking and the kept checkpoints use the first one: a scheduler stops trials on one
    number.

    ``sampler`` (:data:`SAMPLERS`) and ``early_stopping`` (False: FIFO, every trial to ``asha.max_t``)
    give the baselines ``bench/search_efficiency.py`` measures TPE + ASHA against.
    """
    e = spec.experiment
    storage = open_storage(storage_url) if storage_url else None
    objectives = e.all_objectives
    searcher = StudySearch(
        space=DefineByRun(spec.params),
        # A list makes OptunaSearch create a multi-objective study (Ray 2.60); one objective stays a string.
        metric=[o.metric for o in objectives] if e.objectives else e.metric,
        mode=[o.mode for o in objectives] if e.objectives else e.mode,
        sampler=build_sampler(sampler, sampler_seed(e.seed, storage, e.name)),
        storage=storage,
        study_name=e.name,
        max_reports=e.asha.max_t,
    )
    scheduler = ResumableASHAScheduler(  # its rungs survive --resume (search.experiment.asha)
        time_attr="training_iteration",
        max_t=e.asha.max_t,
        grace_period=e.asha.grace_period,
        reduction_factor=e.asha.reduction_factor,
    )
    return tune.TuneConfig(
        metric=e.metric,
        mode=e.mode,
        search_alg=ConcurrencyLimiter(searcher, max_concurrent=e.max_concurrent),
        scheduler=scheduler if early_stopping else FIFOScheduler(),
        num_samples=e.num_samples,
        trial_name_creator=TrialNamer("t"),
        trial_dirname_creator=TrialNamer("t"),
    )


# Optuna samplers by name: TPE (the search's), and random search as its baseline (same study, same seed).
SAMPLERS: dict[str, type[optuna.samplers.TPESampler] | type[optuna.samplers.RandomSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
}


def build_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler ``name`` (a key of :data:`SAMPLERS`), seeded.

    Raises:
        ValueError: an unknown name, listing the valid ones.
    """
    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {name!r}")
    return SAMPLERS[name](seed=seed)


def build_run_config(spec: SearchSpec, storage_path: str, *, verbose: bool = False,
                     stage: str = "search") -> tune.RunConfig:
    """Where results go, how many checkpoints stay, how failures are retried, what the console shows
    (:mod:`search.experiment.console`) and what TensorBoard gets (:mod:`search.experiment.tensorboard`)."""
    e = spec.experiment
    console = console_options(spec, verbose, stage)
    console["callbacks"].append(HparamsLogger(spec, stage))
    return tune.RunConfig(
        name=e.name,
        storage_path=storage_path,
        # The best keep_checkpoints reports by the ranking metric stay; Tune always keeps the latest
        # too (a trial resumes from it), so the winning report's weights survive ASHA and later reports.
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=e.keep_checkpoints,
            checkpoint_score_attribute=e.metric,
            checkpoint_score_order=e.mode,
        ),
        failure_config=tune.FailureConfig(max_failures=e.max_failures),
        **console,
    )


def build_tuner(
    spec: SearchSpec, dataset: DatasetSpec, storage_path: str, storage_url: str, *, verbose: bool = False
) -> tune.Tuner:
    """A new experiment at ``storage_path/<experiment name>``, its study in ``storage_url``, its state signed
    (:mod:`.signing`)."""
    return signed_tuner(
        build_trainable(spec, dataset),
        tune_config=build_tune_config(spec, storage_url),
        run_config=build_run_config(spec, storage_path, verbose=verbose),
    )


def restore_tuner(spec: SearchSpec, dataset: DatasetSpec, experiment_path: str) -> tune.Tuner:
    """Continue an interrupted experiment: finished trials keep their results and are not rerun,
    unfinished ones restart from their last checkpoint. Errored trials stay errored (a diverged
    configuration would diverge again); their reason stays in the results table. The experiment's state is
    checked against its signatures first (:mod:`.signing`): Tune unpickles it."""
    verify_state(experiment_path)
    return tune.Tuner.restore(
        experiment_path,
        trainable=build_trainable(spec, dataset),
        resume_unfinished=True,
        resume_errored=False,
    )


def experiment_path(storage_path: str, name: str) -> str:
    """``storage_path/name`` for local paths and URIs alike."""
    if "://" in storage_path:
        return storage_path.rstrip("/") + "/" + name
    return str(Path(storage_path).resolve() / name)
