"""``--resume`` rebuilds the search algorithm of the restored experiment; it never reads Tune's saved one.

Tune saves the search algorithm with the experiment and ``Tuner.restore`` loads it back: the trial counter,
the trial target, the ``Experiment`` new trials are made from and the concurrency limiter's running trials
(``search_gen_state-*.json``), and the searcher itself (``searcher-state-*.pkl``: for Optuna its study and
sampler). Both files are pickles, so a replaced one runs its code in the driver; and both name the places the
experiment started in (the study's database, the experiment folder new trials are written to), so a copied
folder would go on writing into the original's study and folder.

None of it needs the files. :class:`ResumedSearch` is Tune's ``SearchGenerator`` with that state given, not
read:

* the searcher is built from the space, on the study the experiment records (as for a new search), and takes
  up its trials from the study (:meth:`search.study.StudySearch.restore_from_study`); the confirmation
  stage's from the configs it ran (:mod:`search.experiment.confirm`);
* the trials made so far (the counter that numbers new ones) and the ones still to finish (the limiter's live
  set: Tune resumes them, and the limiter passes their end to the searcher only if it counts them) come from
  Tune's trial list, which Tune restores from its experiment state for the trials themselves;
* the target is the one the experiment records, or ``--num-samples`` (:mod:`search.experiment.grow`);
* new trials are made from an ``Experiment`` of the restored run's own ``RunConfig``, whose storage Tune has
  set to where the folder is now.

Tune still writes both files as it runs; ``--resume`` reads neither.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ray import tune
from ray.tune.experiment import Experiment, Trial
from ray.tune.search import ConcurrencyLimiter, SearchGenerator

__all__ = ["ResumedSearch", "SavedTrials", "resume_search", "saved_trials"]


@dataclass(frozen=True)
class SavedTrials:
    """The trials of a restored experiment, as Tune restored them."""

    ids: tuple[str, ...]  # every trial, in the order they were made
    configs: tuple[dict[str, Any], ...]  # their configs, in that order
    unfinished: frozenset[str]  # the ones Tune resumes (neither finished nor errored)
    # The name of the driver's staging folder for the experiment's trials (StorageContext._timestamp: the first
    # session's). The restored run stages there too, and syncs only that folder into the experiment's.
    staging: str


def saved_trials(tuner: tune.Tuner) -> SavedTrials:
    """The trials of the experiment ``tuner`` was restored from (``Tuner.restore``)."""
    # The list Tune restored with the Tuner (it reads the experiment state once for all of it).
    analysis = _internal(tuner)._experiment_analysis
    if analysis is None:
        raise RuntimeError("Tune restored the experiment without its trials")
    trials: list[Trial] = analysis.trials
    if not trials or trials[0].storage is None:
        raise RuntimeError("Tune restored the experiment without any trial")
    return SavedTrials(
        ids=tuple(t.trial_id for t in trials),
        configs=tuple(dict(t.config) for t in trials),
        unfinished=frozenset(t.trial_id for t in trials if t.status not in (Trial.TERMINATED, Trial.ERROR)),
        staging=trials[0].storage._timestamp,
    )


class ResumedSearch(SearchGenerator):
    """Tune's ``SearchGenerator`` over ``limiter`` for a restored experiment, its state given (see the module doc).

    Args:
        limiter: the concurrency limiter over a searcher that has taken up the experiment's trials.
        experiment: what new trials are made from (the restored run's storage, checkpoints, names).
        trials: the experiment's trials so far.
        target: the trials it runs to.
    """

    def __init__(self, limiter: ConcurrencyLimiter, experiment: Experiment, trials: SavedTrials, target: int) -> None:
        super().__init__(limiter)
        self._experiment = experiment  # type: ignore[assignment]  # None in SearchGenerator.__init__
        self._counter = len(trials.ids)
        self._total_samples = target
        # What ConcurrencyLimiter.suggest records for a trial it hands out.
        limiter.live_trials = set(trials.unfinished)
        limiter.num_unfinished_live_trials = len(trials.unfinished)

    def has_checkpoint(self, dirpath: str) -> bool:
        """False: ``TuneController.resume`` then leaves the state as given instead of reading the saved one."""
        return False

    def restore_from_dir(self, dirpath: str) -> None:
        """Refused: Tune's restore unpickles the files in ``dirpath``; the state is given at construction."""
        raise RuntimeError(f"{type(self).__name__} is built from the study and Tune's trials, never from {dirpath}")


def resume_search(tuner: tune.Tuner, tune_config: tune.TuneConfig, trials: SavedTrials, target: int) -> None:
    """Make the restored ``tuner`` run ``tune_config`` (built from the space; its ``search_alg`` a
    ``ConcurrencyLimiter`` whose searcher has taken up ``trials``) to ``target`` trials, instead of the
    ``TuneConfig`` unpickled from ``tuner.pkl``.

    Written by hand because ``Tuner.restore`` takes no ``TuneConfig`` (ray-project/ray#18847 asked for that
    on resume; closed without an API): the restored Tuner's is replaced.
    """
    internal = _internal(tuner)
    limiter = tune_config.search_alg
    assert isinstance(limiter, ConcurrencyLimiter), "the search's searcher is behind a concurrency limit"
    run = internal.get_run_config()  # storage_path and name: where the folder is now (set by Tuner.restore)
    # As tune.run makes the Experiment of a new search from the same configs (the arguments that matter to a
    # trial: Trial is made from the Experiment's spec); it has no config: the searcher gives all of it.
    experiment = Experiment(
        name=run.name,
        run=internal.converted_trainable,
        stop=run.stop,
        storage_path=run.storage_path,
        storage_filesystem=run.storage_filesystem,
        sync_config=run.sync_config,
        checkpoint_config=run.checkpoint_config,
        trial_name_creator=tune_config.trial_name_creator,
        trial_dirname_creator=tune_config.trial_dirname_creator,
        max_failures=run.failure_config.max_failures,
        num_samples=target,
    )
    # As TuneController.resume sets its own storage's: a new trial's logs (result.json, params.json) are staged
    # in the driver's folder of this name, which is what Tune syncs into the experiment folder.
    experiment.storage._timestamp = trials.staging
    internal._tune_config = replace(tune_config, search_alg=ResumedSearch(limiter, experiment, trials, target),
                                    num_samples=target)


def _internal(tuner: tune.Tuner) -> Any:
    """The ``TunerInternal`` of a Tuner in this process (not a Ray Client one): where Tune keeps its configs."""
    internal = getattr(tuner, "_local_tuner", None)
    assert internal is not None, "a local Tuner (not through Ray Client)"
    return internal

