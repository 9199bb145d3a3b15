"""One search replayed against recorded curves: the real searcher and scheduler, a simulated clock, no training.

The searcher and the scheduler are the ones ``search.run`` builds from the space
(:func:`search.experiment.build_tune_config`: the project's :class:`~search.study.StudySearch` with TPE or
random sampling behind Tune's ``ConcurrencyLimiter``, and Ray Tune's ASHA / async Hyperband or FIFO), in
memory, and they are called exactly as Tune's ``TuneController`` calls them (Ray 2.60,
``ray/tune/execution/tune_controller.py``), with real Tune ``Trial`` objects:

* a new trial: ``searcher.suggest(trial_id)`` (None: the concurrency limit is reached), then
  ``scheduler.on_trial_add``;
* each report: ``decision = scheduler.on_trial_result(trial, result)``; unless it is STOP,
  ``searcher.on_trial_result(trial_id, result)``; then the trial's last result is updated;
* a trial whose trainable returns after its last report (the full budget, or a divergence) gets Tune's
  duplicate "done" result through the same two calls;
* a trial that ends (STOP, or its trainable returned): ``scheduler.on_trial_complete`` and
  ``searcher.on_trial_complete(trial_id, last_result)``.

Why by hand: Tune has no simulated backend (Syne Tune's simulator drives Syne Tune's own schedulers), and its
controller starts actors and waits on real time. Here ``W`` simulated workers run trials; a trial that starts
at time ``t`` on the run it is answered with makes report ``r`` at ``t + seconds[r]`` (the run's recorded
seconds since it began, model building included); events are taken in simulated-time order; a stopped trial
frees its worker at once. A suggested config is answered by the nearest recorded config
(:class:`~search.replay.nearest.Nearest`) and one of its recorded seeds, drawn by the replay's seeded
generator; a config the search proposes again, value for value, gets the same run as before (a search trains
every trial with one seed, ``experiment.seed``, so a repeated config repeats its result and buys no second draw
of its seed noise), while another config answered by the same recorded one draws its own (it is another model:
the recorded seeds stand in for how much nearby configs differ). The same seed gives the same search.

New trials are created only while a worker is free (Tune with ``W`` CPUs starts no more than ``W`` at once;
it may queue PENDING trials ahead, which changes what constant liar sees by at most the queue).

An experiment folder's runs may end early (ASHA stopped them). When the replay asks a run for a report it
does not have, the rest of the trial continues on the nearest run that has that report (its increments of
iterations and seconds); :attr:`SearchTrace.borrowed` counts such reports.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from search.replay.nearest import Nearest
from search.replay.table import CurveTable, Report, Run
from search.space import SearchSpec

if TYPE_CHECKING:  # Ray is imported when a search runs, not when the module is (the replay's workers import it)
    from ray.tune.search import Searcher

__all__ = ["Replay", "SearchTrace", "TrialTrace"]

STOP = "STOP"


@dataclass
class TrialTrace:
    """What one replayed trial did.

    Attributes:
        config_id / seed: the recorded run it was answered with; ``distance``: from the suggested config.
        reports: reports it made; ``values``: the ranking metric at each (None: not finite).
        full_budget: it ran all ``max_t`` reports; ``diverged``: its run diverged.
        value: its value as the search ranks it (best report; ``search.study.StudySearch``), None without one.
        started / ended: simulated seconds; ``iterations``: training iterations it spent.
    """

    trial_id: str
    config: dict[str, Any]
    config_id: int
    seed: int
    distance: float
    started: float
    reports: int = 0
    values: list[float | None] = field(default_factory=list)
    iterations: int = 0
    ended: float = math.nan
    full_budget: bool = False
    diverged: bool = False
    value: float | None = None


@dataclass
class SearchTrace:
    """One replayed search: its trials, and after every report (simulated time, iterations spent so far, best
    full-budget value so far, the config id of that incumbent)."""

    trials: list[TrialTrace]
    events: list[tuple[float, int, float | None, int | None]]
    borrowed: int = 0

    @property
    def final_best(self) -> float | None:
        return self.events[-1][2] if self.events else None

    @property
    def iterations(self) -> int:
        return self.events[-1][1] if self.events else 0

    @property
    def seconds(self) -> float:
        return self.events[-1][0] if self.events else 0.0


class Replay:
    """Replays searches of a space against a :class:`~search.replay.table.CurveTable`.

    Args:
        table: the recorded runs; their configs answer the suggested ones.
        metric / mode: the ranking metric (the space's ``experiment.metric``).
        weights: the nearest-config distance's weight per parameter (:mod:`search.replay.surrogate` fits them;
            None: every weight 1).
    """

    def __init__(self, table: CurveTable, metric: str, mode: str,
                 weights: Mapping[str, float] | None = None) -> None:
        self.table = table
        self.metric = metric
        self.mode = mode
        self.by_config = table.configs()
        self.nearest = Nearest(table.params, {c: runs[0].params for c, runs in self.by_config.items()}, weights)

    def run(self, spec: SearchSpec, workers: int, seed: int,
            searcher: Searcher | None = None) -> SearchTrace:
        """One search of ``spec`` (its ``num_samples``, ``max_concurrent``, searcher and scheduler) on ``workers``
        simulated workers; ``seed`` seeds the choice of recorded seeds and numpy's global generator (Ray's ASHA
        draws a bracket from it). ``searcher``: a Tune ``Searcher`` to ask instead of the space's (behind the
        same concurrency limit; ``bench/replay_ceiling.py``'s searcher that knows the table), else None."""
        from ray.tune.experiment import Trial
        from ray.tune.search import ConcurrencyLimiter, Searcher

        from search.experiment import build_tune_config

        rng = random.Random(seed)
        np.random.seed(seed % 2**32)
        tune_config = build_tune_config(spec)  # in memory: no storage URL
        scheduler = tune_config.scheduler
        assert isinstance(tune_config.search_alg, ConcurrencyLimiter) and scheduler is not None, \
            "build_tune_config sets both"
        if searcher is None:
            searcher = tune_config.search_alg
        else:
            searcher = ConcurrencyLimiter(searcher, max_concurrent=spec.experiment.max_concurrent)
        # The schedulers' hooks take Tune's controller; Ray's ASHA and FIFO do not use it (the replay has none).
        controller: Any = None
        e = spec.experiment
        # As tune.run does (Ray 2.60): the scheduler takes metric and mode from the TuneConfig; the searcher was
        # given them (and its define-by-run space) when built, and Tune leaves it alone without a param_space.
        scheduler.set_search_properties(e.metric, e.mode, num_samples=e.num_samples)
        trace = SearchTrace([], [])
        heap: list[tuple[float, int, str, int]] = []
        live: dict[str, tuple[Any, TrialTrace, _Curve]] = {}
        order = 0
        created = 0
        finished = False
        clock = 0.0
        spent = 0
        best: tuple[float, int] | None = None
        run_of: dict[str, Run] = {}  # this search's run of each config it proposed (module doc)
        while True:
            while not finished and created < e.num_samples and len(live) < workers:
                trial_id = f"r{seed:05d}x{created + 1:05d}"
                config = searcher.suggest(trial_id)
                if config is None or config == Searcher.FINISHED:
                    finished = config == Searcher.FINISHED
                    break
                created += 1
                trial = Trial("replay", config=dict(config), trial_id=trial_id, stub=True)
                scheduler.on_trial_add(controller, trial)
                config_id, distance = self.nearest(config)
                proposed = json.dumps(config, sort_keys=True, default=str)
                if proposed not in run_of:
                    run_of[proposed] = rng.choice(self.by_config[config_id])
                run = run_of[proposed]
                record = TrialTrace(trial_id, dict(config), config_id, run.seed, distance, clock)
                curve = _Curve(run, clock)
                live[trial_id] = (trial, record, curve)
                trace.trials.append(record)
                heapq.heappush(heap, (curve.time_of(1, self, rng, trace), order, trial_id, 1))
                order += 1
            if not heap:
                break
            clock, _, trial_id, r = heapq.heappop(heap)
            trial, record, curve = live[trial_id]
            report = curve.report(r)
            spent += report.iterations - record.iterations
            record.iterations = report.iterations
            record.reports = r
            result = self._result(report, r, curve.diverged_at(r), trial_id)
            value = result.get(self.metric)
            record.values.append(value if _finite(value) else None)
            ends = curve.diverged_at(r) or r >= e.asha.max_t or not curve.has(r + 1, self)
            decision = scheduler.on_trial_result(controller, trial, result)
            if decision != STOP:
                searcher.on_trial_result(trial_id, result)
            trial.update_last_result(result)
            if decision != STOP and ends:
                # The trainable returned: Tune processes its duplicate "done" result the same way.
                done = {**result, "done": True}
                if scheduler.on_trial_result(controller, trial, done) != STOP:
                    searcher.on_trial_result(trial_id, done)
            if decision == STOP or ends:
                scheduler.on_trial_complete(controller, trial, dict(trial.last_result))
                searcher.on_trial_complete(trial_id, result=dict(trial.last_result))
                del live[trial_id]
                record.ended = clock
                record.diverged = curve.diverged_at(r)
                record.full_budget = r >= e.asha.max_t and not record.diverged
                finite = [v for v in record.values if v is not None]
                if finite:
                    record.value = max(finite) if self.mode == "max" else min(finite)
                if record.full_budget and record.value is not None and (
                        best is None or _better(record.value, best[0], self.mode)):
                    best = (record.value, record.config_id)
            else:
                heapq.heappush(heap, (curve.time_of(r + 1, self, rng, trace), order, trial_id, r + 1))
                order += 1
            trace.events.append((clock, spent, best[0] if best else None, best[1] if best else None))
        return trace

    def _result(self, report: Report, r: int, diverged: bool, trial_id: str) -> dict[str, Any]:
        """The flat result Tune would hand the searcher and scheduler for this report (as the trainable reports
        it: ``fashion_core.trainable.TuneReporter``; a divergence ranks worst)."""
        result: dict[str, Any] = {**report.metrics, "training_iteration": r, "iteration": report.iterations,
                                  "time_total_s": report.seconds, "trial_id": trial_id, "done": False,
                                  "diverged": int(diverged)}
        if diverged:
            result[self.metric] = -math.inf if self.mode == "max" else math.inf
            result["diverged_reason"] = "diverged (recorded)"
        return result

    def has_continuation(self, r: int) -> bool:
        """Whether some run that did not diverge has report ``r``."""
        return any(len(run.reports) >= r and not run.diverged for run in self.table.runs)

    def continuation(self, config: Mapping[str, Any], r: int, rng: random.Random) -> Run:
        """A run to continue a trial at report ``r`` from: the nearest config with a run that has ``r`` reports
        (and did not diverge), one of its such runs at random."""
        among = [c for c, runs in self.by_config.items()
                 if any(len(run.reports) >= r and not run.diverged for run in runs)]
        config_id, _ = self.nearest(config, among)
        return rng.choice([run for run in self.by_config[config_id] if len(run.reports) >= r and not run.diverged])


class _Curve:
    """The reports a replayed trial makes: its run's, continued on the nearest longer run where it ends early."""

    def __init__(self, run: Run, start: float) -> None:
        self.run = run
        self.start = start
        self.reports: list[Report] = list(run.reports)

    def diverged_at(self, r: int) -> bool:
        return self.run.diverged and r == len(self.run.reports)

    def has(self, r: int, replay: Replay) -> bool:
        """Whether the trial can make report ``r``: its run has it, or a longer run continues it."""
        if r <= len(self.reports):
            return True
        return not self.run.diverged and replay.has_continuation(r)

    def report(self, r: int) -> Report:
        return self.reports[r - 1]

    def time_of(self, r: int, replay: Replay, rng: random.Random, trace: SearchTrace) -> float:
        """The simulated time of report ``r`` (continuing the curve on a longer run first when needed)."""
        if r > len(self.reports):
            other = replay.continuation(self.run.params, r, rng)
            prev_mine, prev_other = self.reports[-1], other.reports[r - 2]
            step = other.reports[r - 1]
            self.reports.append(Report(
                r, prev_mine.iterations + step.iterations - prev_other.iterations,
                prev_mine.seconds + step.seconds - prev_other.seconds, step.metrics))
            trace.borrowed += 1
        return self.start + self.reports[r - 1].seconds


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _better(value: float, than: float, mode: str) -> bool:
    return value > than if mode == "max" else value < than
