"""Assemble the Ray Tune experiment: Optuna TPE behind a concurrency limit, ASHA, resources, storage."""

from __future__ import annotations

import warnings
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import FIFOScheduler
from ray.tune.search import ConcurrencyLimiter

from fashion_core.data import DatasetSpec
from fashion_core.trainable import train_trial
from search.experiment.asha import ResumableASHAScheduler
from search.experiment.console import TrialNamer, console_options
from search.experiment.grow import SavedTarget, grow_search
from search.experiment.resume import resume_search, saved_trials
from search.experiment.signing import signed_tuner, verify_state
from search.experiment.tensorboard import HparamsLogger
from search.space import DefineByRun, Searcher, SearchSpec, trial_resources, trial_setup
from search.study import StudySearch, open_storage, sampler_seed


def build_trainable(spec: SearchSpec, dataset: DatasetSpec) -> Any:
    """``train_trial`` with its setup bound and the per-trial resources of the space.

    Resources are a function of the trial's sampled config (``search.space.resources``), so that
    e.g. an X101 trial takes a whole GPU where an R50 trial takes half.
    """
    return tune.with_resources(tune.with_parameters(train_trial, setup=trial_setup(spec, dataset)),
                               trial_resources(spec))


def build_tune_config(spec: SearchSpec, storage_url: str | None = None, *, study_name: str | None = None,
                      drawn: int = 0) -> tune.TuneConfig:
    """The searcher and scheduler of the space: the study's sampler (``experiment.searcher``: seeded TPE,
    define-by-run for conditional parameters, or random search) behind a concurrency limit, and ASHA on
    ``training_iteration`` (reports) or FIFO (``experiment.scheduler``).

    The Optuna study is ``storage_url``'s study ``study_name`` (default: the experiment's name;
    :mod:`search.study`); None keeps it in memory (the replay, library callers and tests; ``search.run``
    always gives a database).

    ``drawn``: the trials the search has drawn already (a resumed one's): the resumed sampler starts afresh,
    with a seed of its own (:func:`search.study.sampler_seed`), so it does not draw the earlier session's configs.

    With ``experiment.objectives``, TPE gets every objective (a study with several directions) while
    ASHA, Tune's ranking and the kept checkpoints use the first one: a scheduler stops trials on one
    number.
    """
    e = spec.experiment
    study_name = study_name or e.name
    storage = open_storage(storage_url) if storage_url else None
    objectives = e.all_objectives
    searcher = StudySearch(
        space=DefineByRun(spec.params),
        # A list makes OptunaSearch create a multi-objective study (Ray 2.60); one objective stays a string.
        metric=[o.metric for o in objectives] if e.objectives else e.metric,
        mode=[o.mode for o in objectives] if e.objectives else e.mode,
        sampler=build_sampler(e.searcher, sampler_seed(e.seed, storage, study_name, drawn)),
        storage=storage,
        study_name=study_name,
        max_reports=e.asha.max_t,
    )
    return tune.TuneConfig(
        metric=e.metric,
        mode=e.mode,
        search_alg=ConcurrencyLimiter(searcher, max_concurrent=e.max_concurrent),
        scheduler=build_scheduler(spec),
        num_samples=e.num_samples,
        trial_name_creator=TrialNamer("t"),
        trial_dirname_creator=TrialNamer("t"),
    )


def build_scheduler(spec: SearchSpec) -> ResumableASHAScheduler | FIFOScheduler:
    """ASHA with the space's rungs (its rungs survive ``--resume``: :mod:`search.experiment.asha`), or FIFO."""
    a = spec.experiment.asha
    if spec.experiment.scheduler == "fifo":
        return FIFOScheduler()
    return ResumableASHAScheduler(
        time_attr="training_iteration",
        max_t=a.max_t,
        grace_period=a.grace_period,
        reduction_factor=a.reduction_factor,
        brackets=a.brackets,
    )


def build_sampler(searcher: Searcher, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of ``experiment.searcher``, seeded: TPE with its settings, or random search (the
    baseline: with the same seed its draws are TPE's start-up draws)."""
    if searcher.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():  # multivariate and group are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=searcher.startup_trials,
            multivariate=searcher.multivariate,
            group=searcher.group,
            constant_liar=searcher.constant_liar,
        )


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
    spec: SearchSpec, dataset: DatasetSpec, storage_path: str, storage_url: str, *, study_name: str | None = None,
    verbose: bool = False,
) -> tune.Tuner:
    """A new experiment at ``storage_path/<experiment name>``, its study ``study_name`` (default: the
    experiment's name) in ``storage_url``, its state signed (:mod:`.signing`)."""
    return signed_tuner(
        build_trainable(spec, dataset),
        tune_config=build_tune_config(spec, storage_url, study_name=study_name),
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


def resume_tuner(
    spec: SearchSpec, dataset: DatasetSpec, experiment_path: str, storage_url: str, study_name: str, *,
    saved_target: int, num_samples: int | None,
) -> tuple[tune.Tuner, str, int]:
    """:func:`restore_tuner` whose search goes on from the study, not from Tune's saved searcher
    (:mod:`search.experiment.resume`), to ``num_samples`` trials (None: ``saved_target``, the recorded target).

    Returns:
        the Tuner, the line that says what ``num_samples`` does ("" for nothing) and the target it runs to.

    Raises:
        StudyMismatchError: the study lacks trials the experiment made (not the study the search ran in).
    """
    tuner = restore_tuner(spec, dataset, experiment_path)
    trials = saved_trials(tuner)
    line, target = grow_search(SavedTarget(len(trials.ids), saved_target), num_samples)
    tune_config = build_tune_config(spec, storage_url, study_name=study_name, drawn=len(trials.ids))
    limiter = tune_config.search_alg
    assert isinstance(limiter, ConcurrencyLimiter) and isinstance(limiter.searcher, StudySearch)
    limiter.searcher.restore_from_study(trials.ids)
    resume_search(tuner, tune_config, trials, target)
    return tuner, line, target

