"""The search's methods as the space names them (``experiment.searcher``, ``experiment.scheduler``, ``asha``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from search.experiment import build_sampler, build_tune_config
from search.space import DefineByRun, Searcher, SpaceError, load_space, parse_space, read_yaml

REPO = Path(__file__).resolve().parents[3]
SMOKE = REPO / "spaces" / "smoke.yaml"


def _with(section: str, **values: object) -> dict[str, object]:
    raw = read_yaml(SMOKE, "space file", SpaceError)
    raw["experiment"][section] = {**(raw["experiment"].get(section) or {}), **values}
    return raw


def test_sampler_settings_reach_optuna() -> None:
    tpe = build_sampler(Searcher(startup_trials=4, multivariate=True, group=True, constant_liar=False), 0)
    assert isinstance(tpe, optuna.samplers.TPESampler)
    assert (tpe._n_startup_trials, tpe._multivariate, tpe._group, tpe._constant_liar) == (4, True, True, False)
    assert isinstance(build_sampler(Searcher(sampler="random"), 0), optuna.samplers.RandomSampler)


def test_scheduler_from_the_space() -> None:
    spec = parse_space(_with("asha", brackets=3))
    scheduler = build_tune_config(spec).scheduler
    assert isinstance(scheduler, ASHAScheduler) and len(scheduler._brackets) == 3
    fifo = dataclasses.replace(spec, experiment=dataclasses.replace(spec.experiment, scheduler="fifo"))
    assert type(build_tune_config(fifo).scheduler) is FIFOScheduler


@pytest.mark.parametrize(("section", "values", "message"), [
    ("searcher", {"sampler": "grid"}, "experiment.searcher.sampler: expected one of ['tpe', 'random'], got 'grid'"),
    ("searcher", {"group": True, "multivariate": False}, "experiment.searcher.group: needs multivariate: true"),
    ("searcher", {"constant_liar": "yes"}, "experiment.searcher.constant_liar: expected true or false, got 'yes'"),
    ("searcher", {"startup_trials": -1}, "experiment.searcher.startup_trials: must be >= 0"),
    ("asha", {"brackets": 0}, "experiment.asha.brackets: must be >= 1"),
])
def test_bad_searcher_settings_are_one_line(section: str, values: dict[str, object], message: str) -> None:
    with pytest.raises(SpaceError, match="^<dict>: " + message.replace("[", r"\[").replace("]", r"\]")):
        parse_space(_with(section, **values))
    with pytest.raises(SpaceError, match=r"experiment.scheduler: expected one of \['asha', 'fifo'\]"):
        raw = read_yaml(SMOKE, "space file", SpaceError)
        raw["experiment"]["scheduler"] = "hyperband"
        parse_space(raw)


def _draws(sampler: optuna.samplers.BaseSampler, n: int) -> list[dict[str, object]]:
    """``n`` smoke-space configs from ``sampler``, each told a value (so TPE counts it)."""
    study = optuna.create_study(sampler=sampler, direction="maximize")
    space = DefineByRun(load_space(SMOKE).params)
    draws = []
    for k in range(n):
        trial = study.ask()
        space(trial)
        study.tell(trial, float(k % 3))
        draws.append(trial.params)
    return draws


def test_tpe_startup_draws_are_random_search_draws() -> None:
    """With the same seed, TPE's first ``startup_trials`` configs are random search's, and only later ones differ:
    the start-up trials are random search, so they must leave the budget room for the model."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    startup = 6
    tpe = _draws(build_sampler(Searcher(startup_trials=startup), 3), 10)
    random = _draws(build_sampler(Searcher(sampler="random"), 3), 10)
    assert tpe[:startup] == random[:startup]
    assert tpe[startup:] != random[startup:]
