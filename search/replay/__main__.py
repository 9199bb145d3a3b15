"""``python -m search.replay --table FILE --space FILE``: replay searches against recorded learning curves.

Each method (``--methods``; :mod:`search.replay.methods`) is the space with some settings changed, searched
``--repetitions`` times by the real searcher and scheduler on ``--workers`` simulated workers
(:mod:`search.replay.simulator`), each repetition with its own seed (the same for every method: common random
numbers). The figures (:mod:`search.replay.figures`) are printed, written as JSON (``--json``) and drawn
(``--plot``). The same arguments and seed give the same JSON.

``--table`` is a table file (``bench/record_curves.py``) or a finished experiment folder (its trials' recorded
curves): "what would grace 3 have cost and found on my own search" is
``python -m search.replay --table output/search/smoke --space spaces/smoke.yaml --methods default
default:grace_period=3``.

When the space's params are not the table's (e.g. ``spaces/full.yaml``, whose backbones are R50 / R101 / X101,
against a table recorded on the tiny CPU model), the replay searches the table's space (its ``# params``) with
the space's budget: ``num_samples``, ``max_concurrent``, the searcher and the scheduler settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.replay.methods import METHODS, MethodError, method_space, parse_method
from search.replay.runner import quiet, run_searches
from search.replay.surrogate import MIN_CONFIGS, Surrogate, fit_surrogate, unit_surrogate
from search.replay.table import CurveTable, TableError, load_curves
from search.space import SearchSpec, SpaceError, parse_space, read_yaml

DEFAULT_METHODS = ("random_fifo", "random_asha", "tpe_fifo", "default")
# default vs random + ASHA: the ratio and the upper end of its 95% interval this project aims for.
TARGET_RATIO, TARGET_UPPER = 0.5, 0.6


class ReplayError(ValueError):
    """The table and the space cannot be replayed together; one line."""


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m search.replay",
        description="Replay searches of a space against recorded learning curves (no training): the real "
        "searcher and scheduler, a simulated clock, many repetitions.",
    )
    parser.add_argument("--table", required=True, type=Path,
                        help="a table of recorded curves (bench/record_curves.py) or a finished experiment folder")
    parser.add_argument("--space", required=True, type=Path,
                        help="the space whose budget, searcher and scheduler are replayed (spaces/README.md)")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), metavar="METHOD",
                        help=f"methods to replay (default: {' '.join(DEFAULT_METHODS)}); one of "
                        f"{', '.join(METHODS)}, optionally with settings: NAME:key=value,... "
                        "(e.g. default:startup_trials=5,grace_period=4)")
    parser.add_argument("--surrogate", choices=("fitted", "unit"), default="fitted",
                        help="how a config off the table is answered: by the nearest recorded config with the "
                        "distance's weights fitted to the table (default), or with every weight 1 "
                        "(search/replay/surrogate.py)")
    parser.add_argument("--repetitions", type=int, default=100, help="searches per method (default 100)")
    parser.add_argument("--workers", type=int, help="simulated workers (default: the space's max_concurrent)")
    parser.add_argument("--seed", type=int, help="seed of the first repetition (default: the space's seed); "
                        "repetition k uses seed + k")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes that replay repetitions at once (default: 2 or the CPUs)")
    parser.add_argument("--bootstrap", type=int, default=2000,
                        help="bootstrap resamples of the interval (default 2000)")
    parser.add_argument("--json", type=Path, help="write the figures here (JSON)")
    parser.add_argument("--plot", type=Path, help="draw the curves here (PNG)")
    return parser


@dataclass(frozen=True)
class Plan:
    """Everything checked before the first search: the runs, each method's space, the replay's settings."""

    table: CurveTable
    surrogate: Surrogate
    specs: dict[str, SearchSpec]
    space: str
    repetitions: int
    workers: int
    seed: int
    max_t: int
    notes: tuple[str, ...]


def plan_replay(args: argparse.Namespace) -> Plan:
    """Read and check the space, the table and the methods (one-line errors, before any search)."""
    if args.repetitions < 1 or (args.workers is not None and args.workers < 1) or args.jobs < 1:
        raise ReplayError("--repetitions, --workers and --jobs must be >= 1")
    raw = read_yaml(args.space, "space file", SpaceError)
    spec = parse_space(raw, source=str(args.space))
    notes = []
    if args.table.is_dir():
        table = load_curves(args.table, spec.params, seed=spec.experiment.seed)
    else:
        table = load_curves(args.table)
        if table.params != spec.params:
            raw = {**raw, "params": json.loads(table.header["params"])}
            notes.append(f"{args.space}'s params are not the table's: the replay searches the table's space "
                         f"({', '.join(p.name for p in table.params)}) with {args.space}'s budget, searcher and "
                         "scheduler")
    e = spec.experiment
    if e.metric not in table.metrics():
        raise ReplayError(f"{table.source}: no column for the space's metric {e.metric!r}")
    recorded = max(len(r.reports) for r in table.runs if not r.diverged) if any(
        not r.diverged for r in table.runs) else 0
    if not args.table.is_dir() and recorded < e.asha.max_t:
        raise ReplayError(f"{table.source}: its runs have {recorded} reports; {args.space}'s asha.max_t is "
                          f"{e.asha.max_t} (record longer curves or lower max_t)")
    if not args.table.is_dir() and recorded > e.asha.max_t:
        notes.append(f"the table's runs have {recorded} reports; trials end at {args.space}'s asha.max_t "
                     f"{e.asha.max_t} (their learning-rate schedule is the one of {recorded} reports)")
    specs = {}
    for method in dict.fromkeys(args.methods):
        specs[method] = method_space(raw, method, source=str(args.space))
    seed = e.seed if args.seed is None else args.seed
    workers = args.workers or specs.get("default", spec).experiment.max_concurrent
    fit = fit_surrogate if args.surrogate == "fitted" else unit_surrogate
    surrogate = fit(table, e.metric, e.mode, e.asha.max_t)
    if args.surrogate == "fitted" and not surrogate.fitted:
        notes.append(f"fewer than {MIN_CONFIGS} configs ran the full budget: the surrogate's weights stay 1")
    return Plan(table, surrogate, specs, str(args.space), args.repetitions, workers, seed, e.asha.max_t,
                tuple(notes))


def run_plan(plan: Plan, jobs: int) -> dict[str, list[Any]]:
    """Every method's repetitions (``jobs`` processes), in order; a line per method as it finishes."""
    seeds = [plan.seed + k for k in range(plan.repetitions)]
    return run_searches(plan.table, plan.surrogate.weights, plan.specs, plan.workers, seeds, jobs)


# --- the document ------------------------------------------------------------------------------------------

def build_document(plan: Plan, traces: dict[str, list[Any]], bootstrap: int) -> dict[str, Any]:
    """The JSON document: per method its figures and curves, the reference, ``default_vs_random``, the rungs."""
    import numpy as np

    from search.replay.figures import (
        REFERENCE,
        bootstrap_ratio,
        config_values,
        iteration_grid,
        median_curve,
        method_figures,
        reach,
        rung_agreement,
    )
    from search.report import asha_rungs, rung_advice

    e = next(iter(plan.specs.values())).experiment
    values = config_values(plan.table, e.metric, e.mode, plan.max_t)
    grid = iteration_grid(plan.table, (t for ts in traces.values() for t in ts))
    slowest = max(t.seconds for ts in traces.values() for t in ts)
    time_grid = np.linspace(0.0, slowest, 240)
    methods: dict[str, Any] = {}
    for name, ts in traces.items():
        figures = method_figures(ts, values, e.mode, grid, time_grid)
        base, settings = parse_method(name)
        methods[name] = {"description": METHODS[base][0], "settings": settings, **figures}
    reference = methods.get(REFERENCE)
    shipped = plan.specs.get("default", next(iter(plan.specs.values()))).experiment
    a = shipped.asha
    checks = rung_agreement(plan.table, e.metric, e.mode, plan.max_t)
    rungs = asha_rungs(a.max_t, a.grace_period, a.reduction_factor, a.brackets)
    rung_checks = [c for c in checks if c.report in rungs]
    ordered = sorted(values, key=lambda c: values[c], reverse=e.mode == "max")
    best_config = ordered[0]
    doc: dict[str, Any] = {
        "table": plan.table.source, "space": plan.space, "metric": e.metric, "mode": e.mode,
        "repetitions": plan.repetitions, "workers": plan.workers, "seed": plan.seed,
        "num_samples": e.num_samples, "max_concurrent": e.max_concurrent, "full_budget_reports": plan.max_t,
        "configs": len(values), "runs": len(plan.table.runs),
        "table_best_config": best_config,
        "table_best_value": values[best_config],
        "surrogate": dataclasses.asdict(plan.surrogate),
        "notes": list(plan.notes),
        "rung_agreement": {str(c.report): c.rho for c in checks},
        "rungs": [{"report": c.report, "rho": c.rho, "p": c.p, "runs": c.runs} for c in rung_checks],
        "rung_advice": rung_advice(rung_checks, checks, a.grace_period) if shipped.scheduler == "asha" else [],
        "grid_iterations": grid.tolist(), "grid_seconds": time_grid.tolist(),
    }
    if reference is not None and reference["final_best_median"] is not None:
        target = reference["final_best_median"]
        total = float(np.median(reference["_iterations"]))
        doc["reference"] = REFERENCE
        doc["reference_final_best"] = target
        doc["reference_iterations"] = total
        for m in methods.values():
            reached = reach(median_curve(m["_matrix"], e.mode), grid, target, e.mode)
            m["iterations_to_reference"] = None if math.isinf(reached) else reached
            m["ratio_to_reference"] = None if math.isinf(reached) else reached / total
        if "default" in methods:
            ratio, lo, hi = bootstrap_ratio(methods["default"]["_matrix"], reference["_matrix"],
                                            reference["_finals"], reference["_iterations"], grid, e.mode,
                                            samples=bootstrap, seed=plan.seed)
            doc["default_vs_random"] = {"ratio": _json_float(ratio), "ci95": [_json_float(lo), _json_float(hi)],
                                        "target": TARGET_RATIO, "target_upper": TARGET_UPPER,
                                        "passed": ratio <= TARGET_RATIO and hi <= TARGET_UPPER}
    for m in methods.values():
        for private in [k for k in m if k.startswith("_")]:
            del m[private]
    doc["methods"] = methods
    return doc


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def print_report(doc: dict[str, Any]) -> None:
    print(f"\nreplayed on {doc['table']} ({doc['configs']} configs, {doc['runs']} runs): {doc['num_samples']} trials "
          f"a search, {doc['max_concurrent']} at once, {doc['workers']} workers, full budget "
          f"{doc['full_budget_reports']} reports, {doc['repetitions']} repetitions; the table's best config "
          f"{doc['table_best_config']} = {doc['table_best_value']:.4f} (mean over its seeds)")
    print(f"best full-budget {doc['metric']}: median [25%-75%] over repetitions\n")
    print(f"{'method':44} {'final best':>24} {'iterations':>10} {'sim. time':>10} {'regret':>7} {'to ref.':>8}")
    for name, m in doc["methods"].items():
        best = "-" if m["final_best_median"] is None else (
            f"{m['final_best_median']:.4f} [{_f(m['final_best_q25'])}-{_f(m['final_best_q75'])}]")
        ratio = m.get("ratio_to_reference")
        print(f"{name[:44]:44} {best:>24} {m['iterations_median']:>10.0f} {m['seconds_median']:>9.0f}s "
              f"{m['regret_median']:>7.3f} {'never' if ratio is None else f'{ratio:.2f}x':>8}")
    print(f"\n{Surrogate(**doc['surrogate']).describe()}")
    rungs = ", ".join(f"{k}: {_f(v, '.2f')}" for k, v in doc["rung_agreement"].items())
    print(f"\nhow well report k ranks runs by their full-budget value (Spearman's rho, the table's runs): {rungs}")
    for line in doc["rung_advice"]:
        print(f"  {line}")
    verdict = doc.get("default_vs_random")
    if verdict is not None:
        lo, hi = verdict["ci95"]
        ok = "PASS" if verdict["passed"] else "FAIL"
        # None: never reached (JSON has no inf).
        reach = "never reaches" if verdict["ratio"] is None else f"reaches in {verdict['ratio']:.2f}x"
        print(f"default vs {doc['reference']}: {reach} its median final best {doc['reference_final_best']:.4f}, "
              f"against its median {doc['reference_iterations']:.0f} iterations "
              f"(95% interval {_f(lo, '.2f')} to {_f(hi, '.2f', 'never')}; target <= {verdict['target']}, upper <= "
              f"{verdict['target_upper']}): {ok}")
    for note in doc["notes"]:
        print(f"note: {note}")


def _f(value: float | None, spec: str = ".4f", missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    quiet()
    try:
        plan = plan_replay(args)
    except (TableError, MethodError, SpaceError, ReplayError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    last = plan.seed + plan.repetitions - 1
    print(f"replaying {len(plan.specs)} method(s) x {plan.repetitions} searches of {plan.space} on "
          f"{plan.table.source} ({plan.workers} simulated workers, seeds {plan.seed}..{last})", flush=True)
    for note in plan.notes:
        print(f"note: {note}")
    started = time.perf_counter()
    traces = run_plan(plan, args.jobs)
    doc = build_document(plan, traces, args.bootstrap)
    print_report(doc)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"figures: {args.json}")
    if args.plot:
        from search.replay.plot import plot_methods

        title = (f"{doc['space']} on {Path(doc['table']).name}: {doc['num_samples']} trials, {doc['workers']} "
                 f"workers, {doc['repetitions']} repetitions (median, 25-75%)")
        print(f"plot:    {plot_methods(doc, args.plot, title)}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
