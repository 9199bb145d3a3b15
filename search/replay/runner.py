"""Many replayed searches at once: each method's repetitions spread over worker processes.

A module of its own, not ``python -m search.replay``'s ``__main__``: processes started with "spawn" find their
initializer and task by the module's name, and a module run as ``-m pkg`` is ``__main__`` there, which
multiprocessing does not import again in the workers ("Can't get attribute '_init_worker'", and the pool waits).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

from search.replay.simulator import Replay, SearchTrace
from search.replay.table import CurveTable
from search.space import SearchSpec

__all__ = ["quiet", "run_searches", "seeded"]

_REPLAY: Replay | None = None


def quiet() -> None:
    """Optuna's per-study INFO line and the experimental-feature warnings of TPE's options are not news here."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    logging.getLogger("ray.tune").setLevel(logging.ERROR)


def _init_worker(table: CurveTable, metric: str, mode: str, weights: Mapping[str, float]) -> None:
    global _REPLAY
    quiet()
    _REPLAY = Replay(table, metric, mode, weights)


def seeded(spec: SearchSpec, seed: int) -> SearchSpec:
    """``spec`` with ``experiment.seed`` = ``seed`` (a repetition's sampler seed)."""
    return dataclasses.replace(spec, experiment=dataclasses.replace(spec.experiment, seed=seed))


def _one(spec: SearchSpec, workers: int, seed: int) -> SearchTrace:
    assert _REPLAY is not None, "_init_worker runs first"
    return _REPLAY.run(seeded(spec, seed), workers, seed)


def run_searches(table: CurveTable, weights: Mapping[str, float], specs: Mapping[str, SearchSpec], workers: int,
                 seeds: Sequence[int], jobs: int) -> dict[str, list[SearchTrace]]:
    """method -> one replayed search per seed (in ``seeds`` order), ``jobs`` processes; a line per method as it
    finishes. The specs share one metric and mode (a method changes search settings only)."""
    e = next(iter(specs.values())).experiment
    out: dict[str, list[SearchTrace]] = {}
    pool = None
    if jobs == 1:
        _init_worker(table, e.metric, e.mode, weights)
    else:
        import multiprocessing as mp

        pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                   initargs=(table, e.metric, e.mode, dict(weights)))
    try:
        for method, spec in specs.items():
            started = time.perf_counter()
            if pool is None:
                traces = [_one(spec, workers, s) for s in seeds]
            else:
                traces = list(pool.map(_one, [spec] * len(seeds), [workers] * len(seeds), seeds,
                                       chunksize=max(1, len(seeds) // (4 * jobs))))
            out[method] = traces
            # The lower median, as the figures take it (a value some repetition reached).
            finals = sorted(t.final_best for t in traces if t.final_best is not None)
            median = f"{finals[(len(finals) - 1) // 2]:.4f}" if finals else "-"
            print(f"  {method}: {len(traces)} searches in {time.perf_counter() - started:.0f} s "
                  f"(median final best {median})", flush=True)
    finally:
        if pool is not None:
            pool.shutdown()
    return out
