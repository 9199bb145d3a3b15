"""The recorded config nearest to a suggested one: the replay's surrogate for configs off the table.

As Syne Tune's blackbox repository does for tabulated benchmarks (a 1-nearest-neighbour surrogate), a config the
searcher proposes is answered by the recorded config at the smallest distance, a weighted sum over the
parameters of:

* a numeric parameter: the difference of the two values scaled to ``[0, 1]`` by the parameter's range (on a
  log scale for log-uniform and log ints, as it is sampled);
* a choice: 0 when equal, 1 otherwise;
* a parameter active in one config and inactive in the other (a conditional one): 1; inactive in both: 0.

The weights are 1 unless given; :mod:`search.replay.surrogate` fits them to the table, so that the parameters
that change the result decide which recorded config answers. Ties go to the config recorded first. Each
distance computation is a numpy row operation over the recorded configs, so a 48-trial search of 100
repetitions asks thousands of times in well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from search.space import Param

__all__ = ["Nearest"]


class Nearest:
    """Nearest recorded config (module docstring).

    Args:
        params: the space.
        configs: config id -> its sampled values (active parameters only).
        weights: parameter name -> its weight in the distance (1 for any not named; None: all 1).
    """

    def __init__(self, params: Sequence[Param], configs: Mapping[int, Mapping[str, Any]],
                 weights: Mapping[str, float] | None = None) -> None:
        self.params = tuple(params)
        self.weights = np.array([float((weights or {}).get(p.name, 1.0)) for p in self.params], dtype=np.float64)
        self.ids = np.array(list(configs), dtype=np.int64)
        # One column per parameter: a number in [0, 1] (numeric), a value index (choice); NaN where inactive.
        self._matrix = np.array([[self._code(p, c.get(p.name)) for p in self.params] for c in configs.values()],
                                dtype=np.float64).reshape(len(configs), len(self.params))
        self._choice = np.array([p.distribution == "choice" for p in self.params], dtype=bool)

    def _code(self, p: Param, value: Any) -> float:
        if value is None:
            return math.nan
        if p.distribution == "choice":
            for i, v in enumerate(p.values):
                if v == value and type(v) is type(value):
                    return float(i)
            return float(len(p.values))  # off the space's values: equal to nothing recorded
        low, high, x = float(p.low), float(p.high), float(value)
        if p.distribution == "loguniform" or p.log:
            low, high, x = math.log(low), math.log(high), math.log(max(x, 1e-300))
        return 0.0 if high == low else (x - low) / (high - low)

    def differences(self, config: Mapping[str, Any]) -> np.ndarray:
        """Per-parameter differences of ``config`` from every recorded config, unweighted, shape
        ``(configs, params)``, in ``ids`` and ``params`` order."""
        query = np.array([self._code(p, config.get(p.name)) for p in self.params], dtype=np.float64)
        m = self._matrix
        inactive_q, inactive_m = np.isnan(query)[None, :], np.isnan(m)
        both_active = ~inactive_q & ~inactive_m
        with np.errstate(invalid="ignore"):
            numeric = np.where(self._choice[None, :], (m != query[None, :]).astype(np.float64),
                               np.abs(m - query[None, :]))
        return np.where(both_active, numeric, np.where(inactive_q & inactive_m, 0.0, 1.0))

    def distances(self, config: Mapping[str, Any]) -> np.ndarray:
        """The weighted distance of ``config`` to every recorded config, shape ``(configs,)``, in ``ids`` order."""
        return np.asarray(self.differences(config) @ self.weights)

    def __call__(self, config: Mapping[str, Any], among: Sequence[int] | None = None) -> tuple[int, float]:
        """(config id, distance) of the nearest recorded config; ``among``: only these config ids."""
        d = self.distances(config)
        if among is not None:
            allowed = np.isin(self.ids, np.asarray(among, dtype=np.int64))
            d = np.where(allowed, d, np.inf)
        i = int(np.argmin(d))  # the first of equal distances: the config recorded first
        return int(self.ids[i]), float(d[i])
