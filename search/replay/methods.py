"""Search methods to replay, as changes to a space file: each method is the space with a few settings changed.

A method is a name from :data:`METHODS` optionally followed by settings, ``NAME:key=value,key=value``; e.g.
``default:startup_trials=5,grace_period=4`` is the space as shipped with 5 TPE start-up trials and ASHA's
first rung at report 4. The keys (:data:`SETTINGS`) are those of ``experiment.searcher``, ``experiment.asha``
and ``experiment``; values are YAML (``true``, ``3``, ``random``). The changed space is validated as any space
file is (:func:`search.space.parse_space`), so a method is exactly a space a user could write and run.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml

from search.space import SearchSpec, SpaceError, parse_space

__all__ = ["METHODS", "SETTINGS", "MethodError", "method_space"]

# name -> (what it is, the settings it changes in the space as shipped).
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "default": ("the space as shipped", {}),
    "random_asha": ("random search + the space's scheduler", {"sampler": "random"}),
    "random_fifo": ("random search, every trial to the full budget", {"sampler": "random", "scheduler": "fifo"}),
    "tpe_fifo": ("the space's TPE, every trial to the full budget", {"scheduler": "fifo"}),
    "optuna_tpe": ("TPE with Optuna's defaults (10 start-up trials, multivariate, no groups, constant liar) + the "
                   "space's scheduler",
                   {"sampler": "tpe", "startup_trials": 10, "multivariate": True, "group": False,
                    "constant_liar": True}),
}
# setting -> the space section it belongs to (None: experiment itself).
SETTINGS: dict[str, str | None] = {
    "sampler": "searcher", "startup_trials": "searcher", "multivariate": "searcher", "group": "searcher",
    "constant_liar": "searcher", "grace_period": "asha", "reduction_factor": "asha", "brackets": "asha",
    "scheduler": None, "num_samples": None, "max_concurrent": None,
}


class MethodError(ValueError):
    """A method name or setting that cannot be replayed; one line."""


def parse_method(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME[:key=value,...]`` -> (base name, every setting it changes: the base's, then the given ones)."""
    name, _, rest = text.partition(":")
    if name not in METHODS:
        raise MethodError(f"method {text!r}: unknown name {name!r}; one of {sorted(METHODS)} (optionally "
                          "followed by :key=value,...)")
    settings = dict(METHODS[name][1])
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in SETTINGS:
            raise MethodError(f"method {text!r}: {item!r} is not key=value with a key of {sorted(SETTINGS)}")
        settings[key] = yaml.safe_load(value)
    return name, settings


def method_space(raw: Mapping[str, Any], method: str, source: str = "<space>") -> SearchSpec:
    """The space mapping ``raw`` (a space file's content) with ``method``'s settings written in, validated.

    Raises:
        MethodError: an unknown method or setting, or a value the space file would refuse.
    """
    _, settings = parse_method(method)
    patched = copy.deepcopy(dict(raw))
    experiment = dict(patched.get("experiment") or {})
    for key, value in settings.items():
        section = SETTINGS[key]
        if section is None:
            experiment[key] = value
        else:
            experiment[section] = {**(experiment.get(section) or {}), key: value}
    patched["experiment"] = experiment
    try:
        return parse_space(patched, source=f"{source} as method {method!r}")
    except SpaceError as exc:
        raise MethodError(str(exc)) from None
