"""The search's methods by name: TPE (default) or random sampling, ASHA or no early stopping."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from search.experiment import build_sampler, build_tune_config
from search.space import DefineByRun, load_space

REPO = Path(__file__).resolve().parents[3]


def test_sampler_by_name() -> None:
    assert isinstance(build_sampler("tpe", 0), optuna.samplers.TPESampler)
    assert isinstance(build_sampler("random", 0), optuna.samplers.RandomSampler)
    with pytest.raises(ValueError, match=r"sampler must be one of \['random', 'tpe'\], got 'grid'"):
        build_sampler("grid", 0)


def test_scheduler_by_early_stopping() -> None:
    spec = load_space(REPO / "spaces" / "smoke.yaml")
    assert isinstance(build_tune_config(spec).scheduler, ASHAScheduler)
    assert type(build_tune_config(spec, sampler="random", early_stopping=False).scheduler) is FIFOScheduler


def _draws(sampler: optuna.samplers.BaseSampler, n: int) -> list[dict[str, object]]:
    """``n`` smoke-space configs from ``sampler``, each told a value (so TPE counts it)."""
    study = optuna.create_study(sampler=sampler, direction="maximize")
    space = DefineByRun(load_space(REPO / "spaces" / "smoke.yaml").params)
    draws = []
    for k in range(n):
        trial = study.ask()
        space(trial)
        study.tell(trial, float(k % 3))
        draws.append(trial.params)
    return draws


def test_tpe_startup_draws_are_random_search_draws() -> None:
    """What bench/search_efficiency.py reports when TPE + ASHA does not beat random + ASHA: with the same
    seed, TPE's first n_startup_trials (10) configs are random search's, and only later ones differ."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tpe, random = _draws(build_sampler("tpe", 3), 14), _draws(build_sampler("random", 3), 14)
    assert tpe[:10] == random[:10]
    assert tpe[10:] != random[10:]
