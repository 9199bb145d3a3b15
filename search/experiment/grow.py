"""Grow a search: ``--resume --num-samples N`` runs more trials in an experiment that Tune restores.

Tune continues a restored experiment to the ``num_samples`` it was started with: the target is part of
the search algorithm's saved state (``SearchGenerator.get_state()``: ``counter``, ``total_samples``,
``finished``, in ``search_gen_state-<session>.json`` in the experiment folder), ``Tuner.restore`` takes
no ``TuneConfig`` and the restored state overrides the one pickled with the Tuner, so the run ends at
once, adding nothing (ray-project/ray#18847 asked for new trials on resume; it was closed without an
API). Raising the saved target before the restore is all it takes: the restored searcher (the Optuna
study in its database, its sampler's random state included) suggests the extra trials, ASHA schedules
them, and the saved counter numbers them after the existing ones.

Written by hand because no Tune API changes a restored target. The file is Tune's own format (a
cloudpickled dict, read and written as Tune does, the newest file by name); it is found through Tune's
constants, on local storage and URIs alike. It is unpickled only once its signature is checked, and signed
again as it is rewritten (:mod:`.signing`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import pyarrow.fs
import ray.cloudpickle as cloudpickle
from ray.tune.search import SearchGenerator
from ray.tune.search.searcher import Searcher

from search.experiment.signing import read_signed, storage_of, write_signed

__all__ = [
    "GENERATOR_STATE", "SEARCHER_STATE", "GrowError", "SavedTarget", "grow_search", "newest_state", "read_target",
    "set_target",
]

# Tune's file names: the search algorithm's state (counter, target) and the base searcher's own.
GENERATOR_STATE = SearchGenerator.CKPT_FILE_TMPL.format("*")
SEARCHER_STATE = Searcher.CKPT_FILE_TMPL.format("*")


class GrowError(ValueError):
    """The experiment cannot be grown; the message is one line saying why."""


@dataclass(frozen=True)
class SavedTarget:
    """What a saved experiment has made and where it stops."""

    created: int  # trials the search algorithm has created
    target: int  # the num_samples it runs to


def newest_state(experiment_path: str, pattern: str) -> str | None:
    """The path (within its filesystem) of the newest file matching ``pattern``, as Tune picks it (by name)."""
    fs, root = storage_of(experiment_path)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    names = [i.base_name for i in infos if i.type == pyarrow.fs.FileType.File and fnmatch.fnmatch(i.base_name, pattern)]
    return str(PurePosixPath(root) / max(names)) if names else None


def _generator_state(experiment_path: str) -> tuple[str, dict[str, Any]]:
    path = newest_state(experiment_path, GENERATOR_STATE)
    if path is None:
        raise GrowError(f"--num-samples: {experiment_path} has no saved search state ({GENERATOR_STATE}) to grow")
    return path, cloudpickle.loads(read_signed(experiment_path, path))


def read_target(experiment_path: str) -> SavedTarget:
    """The saved experiment's trial count and target.

    Raises:
        GrowError: no saved search state in ``experiment_path``.
    """
    _, state = _generator_state(experiment_path)
    return SavedTarget(created=int(state["counter"]), target=int(state["total_samples"]))


def set_target(experiment_path: str, num_samples: int) -> None:
    """Make the saved experiment run to ``num_samples`` trials when restored."""
    path, state = _generator_state(experiment_path)
    # `finished` is set when a searcher said FINISHED or the run was stopped; the new target reopens it.
    state.update(total_samples=num_samples, finished=False)
    write_signed(experiment_path, path, cloudpickle.dumps(state))


def grow_search(experiment_path: str, num_samples: int) -> str:
    """Set the restored search's target to ``num_samples`` and say what that does, in one line.

    More than it has made: that many trials in all (the extra ones sampled by the restored searcher).
    Fewer than it was started with but no fewer than it made: the unstarted ones are dropped. Fewer than
    it made: nothing changes (trials are never removed).

    Raises:
        GrowError: no saved search state in ``experiment_path``.
    """
    saved = read_target(experiment_path)
    if num_samples < saved.created or num_samples == saved.target == saved.created:
        return (f"--num-samples {num_samples}: the search already has {saved.created} trials; none added "
                f"(a larger --num-samples grows it)")
    if num_samples == saved.target:
        return ""
    set_target(experiment_path, num_samples)
    return (f"--num-samples {num_samples}: the search runs to {num_samples} trials instead of {saved.target} "
            f"({saved.created} made, {num_samples - saved.created} to sample)")
