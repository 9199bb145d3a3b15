"""What a recorded table and a space's budget allow any searcher: the replay's target against an oracle.

``python -m search.replay`` asks whether the shipped search reaches random + ASHA's median final best in at
most 0.5x of random + ASHA's median iterations. This bench asks whether *any* searcher could, on the same table
with the same budget: it replays, through the same simulator and the space's own scheduler, a searcher that
knows the table (:class:`Oracle`: it proposes the table's configs best mean full-budget value first, one trial
each). Each of its trials is answered as every replayed trial is, by one of the config's recorded seeds drawn
by the replay: a search cannot know which seed's luck a trial gets, only (at best) how good a config is on
average, so no real searcher can expect to do better than this one. When the oracle misses the target, the
target measures the table's seed noise and the budget's shape, not the searcher.

Printed (and in ``--json``):

* the target, random + ASHA's median final best: how many of the table's runs reach it, and the best run of
  each of the table's best configs by mean;
* per method (random + ASHA; the space as shipped; the oracle with the space's scheduler; the oracle with every
  trial to the full budget): median final best [25-75%], median iterations, the iterations to reach the target
  over random + ASHA's median iterations (``search.replay``'s ``default_vs_random`` ratio, with its bootstrap
  95% interval), and over random + ASHA's own iterations to reach it (random = 1.00x by construction);
* the trials that had run the full budget when 0.5x of random's iterations were spent: how many, and how many
  of them were among the first ``startup_trials`` proposals (TPE's random start-up, as blind as random search).

Usage: ``python bench/replay_ceiling.py [--table bench/curves/tiny_cpu.csv.gz] [--space spaces/full.yaml]
[--repetitions 100] [--json out.json]`` (about 1 minute on 2 cores for 100 repetitions).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ray.tune.search import Searcher  # noqa: E402

from search.replay import figures  # noqa: E402
from search.replay.__main__ import TARGET_RATIO, get_args_parser, plan_replay  # noqa: E402
from search.replay.runner import quiet, seeded  # noqa: E402
from search.replay.simulator import Replay, SearchTrace  # noqa: E402

DEFAULT_TABLE = REPO / "bench" / "curves" / "tiny_cpu.csv.gz"
DEFAULT_SPACE = REPO / "spaces" / "full.yaml"
# The replay's methods this bench needs: the reference, the shipped search, a FIFO scheduler for the oracle.
METHODS = (figures.REFERENCE, "default", "tpe_fifo")


class Oracle(Searcher):
    """Proposes the given configs in order, one trial each, then nothing.

    Ten lines rather than Optuna's ``enqueue_trial`` or Tune's ``points_to_evaluate``: the bound must propose
    exactly this list, whatever a sampler would do around or after it.
    """

    def __init__(self, configs: Sequence[Mapping[str, Any]], metric: str, mode: str) -> None:
        super().__init__(metric=metric, mode=mode)
        self._queue = [dict(c) for c in configs]

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        return self._queue.pop(0) if self._queue else None  # None: no trial now (the replay then stops creating)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        pass


def full_budget_by(trace: SearchTrace, budget: float) -> list[int]:
    """Creation indices (0-based) of the trials that had run the full budget when ``budget`` iterations were
    spent."""
    times = np.array([e[0] for e in trace.events])
    spent = np.array([e[1] for e in trace.events])
    out = []
    for index, trial in enumerate(trace.trials):
        if trial.full_budget:
            at = spent[max(0, int(np.searchsorted(times, trial.ended, side="right")) - 1)]
            if at <= budget:
                out.append(index)
    return out


def measure(table: Path, space: Path, repetitions: int, bootstrap: int = 2000) -> dict[str, Any]:
    """The figures of the module docstring, as a JSON-ready document."""
    args = get_args_parser().parse_args(["--table", str(table), "--space", str(space), "--methods", *METHODS,
                                         "--repetitions", str(repetitions)])
    plan = plan_replay(args)
    e = plan.specs["default"].experiment
    values = figures.config_values(plan.table, e.metric, e.mode, plan.max_t)
    ranked = sorted(values, key=lambda c: values[c], reverse=e.mode == "max")
    replay = Replay(plan.table, e.metric, e.mode, plan.surrogate.weights)
    oracle_configs = [replay.by_config[c][0].params for c in ranked[:e.num_samples]]
    seeds = [plan.seed + k for k in range(repetitions)]
    runs = {
        figures.REFERENCE: (plan.specs[figures.REFERENCE], False),
        "default": (plan.specs["default"], False),
        f"oracle + {e.scheduler}": (plan.specs["default"], True),
        "oracle + fifo": (plan.specs["tpe_fifo"], True),
    }
    traces: dict[str, list[SearchTrace]] = {}
    for name, (spec, oracle) in runs.items():
        traces[name] = [replay.run(seeded(spec, s), plan.workers, s,
                                   searcher=Oracle(oracle_configs, e.metric, e.mode) if oracle else None)
                        for s in seeds]
        print(f"  {name}: {repetitions} searches", flush=True)

    grid = figures.iteration_grid(plan.table, (t for ts in traces.values() for t in ts))
    per_method = {name: figures.method_figures(ts, values, e.mode, grid, np.linspace(0.0, 1.0, 2))
               for name, ts in traces.items()}
    ref = per_method[figures.REFERENCE]
    target = ref["final_best_median"]
    total = float(np.median(ref["_iterations"]))
    ref_reach = figures.reach(figures.median_curve(ref["_matrix"], e.mode), grid, target, e.mode)
    better = (lambda v: v >= target) if e.mode == "max" else (lambda v: v <= target)
    run_values = [(c, v) for c, v in figures.full_budget_values(plan.table, e.metric, e.mode, plan.max_t)
                  if v is not None]
    startup = e.searcher.startup_trials
    # A trial's iterations at the full budget (the table's shortest run that made max_t reports).
    full_iterations = min(r.reports[plan.max_t - 1].iterations for r in plan.table.runs
                          if not r.diverged and len(r.reports) >= plan.max_t)
    doc: dict[str, Any] = {
        "table": str(table), "space": str(space), "repetitions": repetitions, "metric": e.metric,
        "num_samples": e.num_samples, "max_concurrent": e.max_concurrent, "workers": plan.workers,
        "startup_trials": startup, "full_budget_iterations": full_iterations,
        "target": target, "reference_iterations": total, "reference_iterations_to_target": ref_reach,
        "runs": len(run_values), "runs_reaching_target": sum(better(v) for _, v in run_values),
        "best_configs": [{"config_id": c, "mean": values[c],
                          "best_run": figures.run_value([v for k, v in run_values if k == c], e.mode)}
                         for c in ranked[:5]],
        "methods": {},
    }
    half = TARGET_RATIO * total
    for name, f in per_method.items():
        ratio, lo, hi = figures.bootstrap_ratio(f["_matrix"], ref["_matrix"], ref["_finals"], ref["_iterations"],
                                                grid, e.mode, samples=bootstrap, seed=plan.seed)
        reached = figures.reach(figures.median_curve(f["_matrix"], e.mode), grid, target, e.mode)
        early = [full_budget_by(t, half) for t in traces[name]]
        doc["methods"][name] = {
            "final_best_median": f["final_best_median"], "final_best_q25": f["final_best_q25"],
            "final_best_q75": f["final_best_q75"], "iterations_median": f["iterations_median"],
            "ratio": _finite(ratio), "ci95": [_finite(lo), _finite(hi)],
            "ratio_to_reference_reach": _finite(reached / ref_reach),
            "full_budget_by_half_median": float(np.median([len(x) for x in early])),
            "full_budget_by_half_from_startup": sum(i < startup for x in early for i in x) / max(
                1, sum(len(x) for x in early)),
        }
    return doc


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _x(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}x"


def print_report(doc: dict[str, Any]) -> None:
    print(f"\n{doc['space']}'s budget ({doc['num_samples']} trials, {doc['max_concurrent']} at once) on "
          f"{doc['table']}, {doc['repetitions']} repetitions")
    print(f"target: random + ASHA's median final best {doc['target']:.4f}; {doc['runs_reaching_target']} of the "
          f"table's {doc['runs']} runs reach it; the best configs by mean and their best run: "
          + ", ".join(f"{c['config_id']} {c['mean']:.4f} ({_f(c['best_run'])})" for c in doc["best_configs"]))
    print(f"random + ASHA: {doc['reference_iterations']:.0f} median iterations, its median curve reaches the "
          f"target at {doc['reference_iterations_to_target']:.0f}")
    # Why the budget's shape caps every searcher: while all workers are busy, the first full-budget value
    # exists only once about one full trial's iterations were spent on each worker.
    workers, full, total = doc["workers"], doc["full_budget_iterations"], doc["reference_iterations"]
    # By TARGET_RATIO x total, each worker has spent about TARGET_RATIO x total / workers iterations.
    latest_start = max(0.0, TARGET_RATIO * total / workers - full)
    print(f"with {workers} worker{'s' if workers != 1 else ''} busy, the first full-budget value comes at about "
          f"{workers} x {full} = {workers * full} iterations = {workers * full / total:.2f}x of random's; by "
          f"{TARGET_RATIO}x only trials started in about the first {latest_start:.0f} iterations of a worker can "
          "have run the full budget\n")
    early = f"full budget by 0.5x (first {doc['startup_trials']})"
    print(f"{'method':16} {'final best [25-75%]':>26} {'iterations':>10} {'to target / random its. [95%]':>32} "
          f"{'/ random reach':>14} {early:>31}")
    for name, m in doc["methods"].items():
        lo, hi = m["ci95"]
        best = "-" if m["final_best_median"] is None else (
            f"{m['final_best_median']:.4f} [{m['final_best_q25']:.4f}-{m['final_best_q75']:.4f}]")
        ci = f"{_x(m['ratio'])} [{_x(lo)} to {_x(hi)}]"
        print(f"{name:16} {best:>26} {m['iterations_median']:>10.0f} {ci:>32} "
              f"{_x(m['ratio_to_reference_reach']):>14} "
              f"{m['full_budget_by_half_median']:>20.0f} ({m['full_budget_by_half_from_startup']:.0%})")
    oracle = [m for name, m in doc["methods"].items() if name.startswith("oracle")]
    best_ratio = min((m["ratio"] for m in oracle if m["ratio"] is not None), default=None)
    feasible = best_ratio is not None and best_ratio <= TARGET_RATIO
    print(f"\nthe target (<= {TARGET_RATIO}x of random's iterations) is "
          f"{'within' if feasible else 'beyond'} what a searcher that knows the table reaches "
          f"(its best: {_x(best_ratio)})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--space", type=Path, default=DEFAULT_SPACE)
    parser.add_argument("--repetitions", type=int, default=100)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    quiet()
    doc = measure(args.table, args.space, args.repetitions)
    print_report(doc)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
