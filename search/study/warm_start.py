"""Warm start: a new search's study begins with the finished and pruned trials of an earlier study.

``--warm-start <experiment folder or storage URL>`` names the earlier study: a folder means its
``study.db`` and the study named after the folder (the experiment's name), or the only study there; a
URL means the only study in that database, or ``<url>#<study name>``.

Tune's ``OptunaSearch`` takes earlier results only as ``points_to_evaluate`` + ``evaluated_rewards``, which
it refuses with a define-by-run space (this project's, for conditional parameters) and which would turn
every ASHA-stopped trial into a COMPLETE one without its intermediate values. So the trials are copied into
the new study in its database (``optuna.trial.create_trial`` + ``Study.add_trials``) before the searcher
loads it: TPE reads every COMPLETE and PRUNED trial of its study, copies included.

A trial is taken when its parameters fit the new space: the space's define-by-run function, answered
with the trial's values, asks for exactly the parameters the trial has (the conditional ones its values
switch on), and every value lies inside the new space's Optuna distribution. A copy keeps its state,
values and intermediate values, carries the new space's distributions (those TPE compares) and the user
attribute ``warm_start`` = ``<source>#<study>/<trial number>``, which keeps a trial from being copied twice
when a failed start is run again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from search.space import DefineByRun, Param
from search.study.storage import STUDY_FILE, default_storage_url, open_storage, without_password

__all__ = ["WARM_START_ATTR", "WarmStart", "WarmStartError", "apply_warm_start", "plan_warm_start", "sampler_seed"]

# The user attribute naming the source trial of a copy.
WARM_START_ATTR = "warm_start"
# The states TPE learns from.
TAKEN = (TrialState.COMPLETE, TrialState.PRUNED)


class WarmStartError(ValueError):
    """The ``--warm-start`` source cannot be used; the message is one line naming it."""


@dataclass(frozen=True)
class WarmStart:
    """The trials of an earlier study that fit the new space, ready to add, and what was left out."""

    source: str  # the study, as printed: a folder, or a URL without its password, and the study name
    study: tuple[str, str]  # (its storage URL without password, its name)
    copies: list[FrozenTrial]
    left_out: Counter[str]  # reason -> trials


def plan_warm_start(given: str, params: Sequence[Param], modes: Sequence[str], metrics: Sequence[str]) -> WarmStart:
    """Read the study ``given`` names and pick its trials that fit the space of ``params``.

    Args:
        given: ``--warm-start``: an experiment folder, a storage URL, or ``<url>#<study name>``.
        params: the new space's parameters.
        modes: the new search's direction per objective (``"max"``/``"min"``).
        metrics: the new search's objective names (checked against the source's when it recorded them).

    Raises:
        WarmStartError: one line naming ``given`` and what is wrong (no such folder, no study, a study
            with other objectives).
    """
    source = _resolve(given)
    study = optuna.load_study(study_name=source.name, storage=open_storage(source.url))
    directions = [_direction(m) for m in modes]
    if study.directions != directions:
        raise WarmStartError(f"--warm-start {given}: its study {source.name!r} "
                             f"{'/'.join(d.name.lower() for d in study.directions)}s, this search "
                             f"{'/'.join(d.name.lower() for d in directions)}s")
    if study.metric_names is not None and list(study.metric_names) != list(metrics):
        raise WarmStartError(f"--warm-start {given}: its study {source.name!r} optimized "
                             f"{', '.join(study.metric_names)}, this search {', '.join(metrics)}")
    copies: list[FrozenTrial] = []
    left_out: Counter[str] = Counter()
    for trial in study.get_trials(deepcopy=False):
        if trial.state not in TAKEN:
            left_out[trial.state.name] += 1
            continue
        fitted = _fit(trial.params, params)
        if isinstance(fitted, str):
            left_out[fitted] += 1
            continue
        copies.append(optuna.trial.create_trial(
            state=trial.state,
            values=trial.values,
            params={n: trial.params[n] for n in fitted},
            distributions=fitted,
            intermediate_values=trial.intermediate_values,
            user_attrs={**trial.user_attrs,
                        WARM_START_ATTR: f"{without_password(source.url)}#{source.name}/{trial.number}"},
        ))
    return WarmStart(source=source.label, study=(without_password(source.url), source.name), copies=copies,
                     left_out=left_out)


def apply_warm_start(plan: WarmStart, storage_url: str, study_name: str, modes: Sequence[str]) -> str:
    """Add ``plan``'s trials to the study ``study_name`` in ``storage_url`` (created when new) and say so in
    one line. Trials copied by an earlier start (one that failed after this step) are not added twice.

    Raises:
        WarmStartError: that study is the source itself.
    """
    if plan.study == (without_password(storage_url), study_name):
        raise WarmStartError(f"--warm-start {plan.source}: that is this search's own study")
    storage = open_storage(storage_url)
    study = optuna.create_study(storage=storage, study_name=study_name, directions=[_direction(m) for m in modes],
                                load_if_exists=True)
    there = {t.user_attrs.get(WARM_START_ATTR) for t in study.get_trials(deepcopy=False)}
    study.add_trials([t for t in plan.copies if t.user_attrs[WARM_START_ATTR] not in there])
    line = f"warm start: took {len(plan.copies)} trials from {plan.source}, left out {sum(plan.left_out.values())}"
    if plan.left_out:
        line += " (" + ", ".join(f"{n} {reason}" for reason, n in plan.left_out.most_common()) + ")"
    return line


def sampler_seed(seed: int, storage: optuna.storages.BaseStorage | None, study_name: str) -> int:
    """The TPE seed of a new search whose study may start with copied trials: ``seed`` plus the number of copies
    (trials with the ``warm_start`` attribute; other trials already in the study do not move it).

    TPE samples at random until its study has ``n_startup_trials`` finished trials, copies included; with the
    seed of the source search, those random draws would be the source's first configs again.
    """
    if storage is None:
        return seed
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:  # a new study
        return seed
    copies = [t for t in storage.get_all_trials(study_id, deepcopy=False) if WARM_START_ATTR in t.user_attrs]
    return seed + len(copies)


def _direction(mode: str) -> StudyDirection:
    return StudyDirection.MAXIMIZE if mode == "max" else StudyDirection.MINIMIZE


@dataclass(frozen=True)
class _Source:
    url: str
    name: str
    label: str  # as printed: the folder, or the URL without its password and the study name


def _resolve(given: str) -> _Source:
    """The storage and study ``--warm-start given`` names."""
    if "://" in given:
        url, _, name = given.rpartition("#") if "#" in given else (given, "", "")
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
            # Opening it would create an empty database.
            raise WarmStartError(f"--warm-start {given}: no such database file")
        preferred = None
    else:
        folder = Path(given)
        if not folder.is_dir():
            raise WarmStartError(f"--warm-start {given}: no such folder (expected an experiment folder holding "
                                 f"{STUDY_FILE}, or a storage URL)")
        if not (folder / STUDY_FILE).is_file():
            raise WarmStartError(f"--warm-start {given}: no {STUDY_FILE} in it (an experiment whose study lives "
                                 "in another database: pass that storage URL)")
        # The experiment's study is named after it, and its folder too.
        url, name, preferred = default_storage_url(folder), "", folder.resolve().name
    try:
        names = sorted(s.study_name for s in open_storage(url).get_all_studies())
    except ValueError as exc:
        raise WarmStartError(f"--warm-start {given}: {exc}") from None
    if name and name not in names:
        raise WarmStartError(f"--warm-start {given}: no study {name!r} there (it holds: {', '.join(names) or 'none'})")
    if not name:
        if preferred in names:
            name = str(preferred)
        elif len(names) == 1:
            name = names[0]
        elif not names:
            raise WarmStartError(f"--warm-start {given}: the database holds no study")
        else:
            raise WarmStartError(f"--warm-start {given}: the database holds {len(names)} studies "
                                 f"({', '.join(names)}); name one as <storage URL>#<study>")
    return _Source(url, name, f"{without_password(url)}#{name}" if "://" in given else given)


def _fit(values: dict[str, Any], params: Sequence[Param]) -> dict[str, BaseDistribution] | str:
    """The new space's distributions of a trial with these parameter ``values``, or why it does not fit."""
    replay = _Replay(values)
    try:
        DefineByRun(tuple(params))(cast(optuna.Trial, replay))
    except _UnfitError as unfit:
        return str(unfit)
    extra = sorted(set(values) - set(replay.distributions))
    return f"with {extra[0]} unused by the new space" if extra else replay.distributions


class _UnfitError(Exception):
    """A trial's values do not fit the new space (the message is the reason)."""


class _Replay:
    """A trial for the space's define-by-run function: answers with an earlier trial's values and records the
    new space's distribution of each parameter it is asked for.

    Written here because Optuna's ``FixedTrial`` only warns about a value outside a distribution and raises
    the same ``ValueError`` for a missing parameter and an unknown category; the warm start must tell them apart.
    """

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.distributions: dict[str, BaseDistribution] = {}

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._take(name, CategoricalDistribution(choices))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> Any:
        return self._take(name, IntDistribution(low, high, log=log))

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> Any:
        return self._take(name, FloatDistribution(low, high, log=log))

    def _take(self, name: str, distribution: BaseDistribution) -> Any:
        if name not in self.values:
            raise _UnfitError(f"lacking {name}")
        value = self.values[name]
        try:
            # What Optuna's own create_trial checks (to_internal_repr refuses an unknown category).
            inside = distribution._contains(distribution.to_internal_repr(value))
        except (ValueError, TypeError):
            inside = False
        if not inside:
            raise _UnfitError(f"with {name} outside the new space")
        self.distributions[name] = distribution
        return value
