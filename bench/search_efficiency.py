"""Search efficiency: the best full-budget metric against training iterations, per search method.

Runs the smoke space (the real search: Ray Tune, Optuna through ``search.study.StudySearch``, ASHA,
detectron2 training of the tiny CPU config) with each method, for several seeds
(``experiment.seed`` = the space's + 0, 1, ...: it seeds the sampler and every trial's training):

* ``tpe_asha``: TPE + ASHA, the search's default;
* ``random_asha``: Optuna's random sampler + ASHA;
* ``tpe_fifo``: TPE without early stopping (every trial trains ``asha.max_t`` reports).

What is counted. The x axis is the training iterations spent so far: every report of every trial, in
the order the reports were made (Tune's ``timestamp``, 1 s resolution), adds the iterations the trial
trained since its previous report. The y axis is the best ranking metric *measured at the full budget*
so far: the value at report ``asha.max_t`` of trials that got there. A value at a lower rung is not
counted: ASHA's low-fidelity values are noisier and lower, and a max over every report of every trial
would reward the method that reports most. A full-budget run is what the confirmation stage measures
for a config (with one seed); the stage itself (more seeds of the top configs) is not run here: it
adds the same cost to every method and would give one point per search, not a curve.

With ``tpe_fifo`` it also prints how well ASHA's rungs rank trials: Spearman's rho between each early
report's value and the full-budget value, over the FIFO trials (all of which ran the full budget).

Target: TPE + ASHA's mean curve (over seeds) reaches random search's final best (mean over seeds) in at
most half of random search's iterations (mean over seeds). Exit status 1 when it does not.

Usage: ``python bench/search_efficiency.py [--seeds 3] [--num-samples N] [--methods ...] [--json out.json]``;
``--quick``: 1 seed, 3 samples (a smoke check of the bench, not a measurement); ``--report out.json``: print
the figures of an earlier ``--json`` file (written after each search, so an interrupted bench's too).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# method -> (Optuna sampler, ASHA early stopping)
METHODS: dict[str, tuple[str, bool]] = {
    "tpe_asha": ("tpe", True),
    "random_asha": ("random", True),
    "tpe_fifo": ("tpe", False),
}
# TPE + ASHA must reach random search's final best within this share of random search's iterations.
TARGET_SHARE = 0.5
# Budget points printed per table (the JSON has every report).
TABLE_ROWS = 10

Curve = list[tuple[int, float | None]]  # (cumulative training iterations, best full-budget value so far)


# --- the curve from trial records (pure: the test feeds synthetic records) -----------------------------

def best_curve(trials: Sequence[dict[str, Any]], full_budget: int, mode: str) -> Curve:
    """The best full-budget value against cumulative training iterations, one point per report.

    Args:
        trials: one record per trial, ``{"reports": [{"timestamp", "training_iteration", "iteration",
            "value"}, ...]}`` (``iteration``: the trial's training iterations at that report; ``value``:
            the ranking metric, None when not finite).
        full_budget: the ``training_iteration`` of a report at the full budget (``asha.max_t``).
        mode: "max" or "min".
    """
    events = []
    for index, trial in enumerate(trials):
        previous = 0
        for report in sorted(trial["reports"], key=lambda r: r["training_iteration"]):
            events.append((report["timestamp"], index, report["iteration"] - previous, report))
            previous = report["iteration"]
    events.sort(key=lambda e: (e[0], e[1]))
    curve: Curve = []
    spent, best = 0, None
    for _, _, iterations, report in events:
        spent += iterations
        value = report["value"]
        if report["training_iteration"] >= full_budget and value is not None:
            best = value if best is None else _better(best, value, mode)
        curve.append((spent, best))
    return curve


def value_at(curve: Curve, budget: int) -> float | None:
    """The curve's value once ``budget`` iterations are spent (its last value beyond its end)."""
    value = None
    for spent, best in curve:
        if spent > budget:
            break
        value = best
    return value


def mean_curve(curves: Sequence[Curve], budgets: Sequence[int]) -> list[float | None]:
    """The mean over ``curves`` at each budget; None until every curve has a value."""
    out: list[float | None] = []
    for budget in budgets:
        values = [value_at(c, budget) for c in curves]
        out.append(None if any(v is None for v in values) else sum(values) / len(values))  # type: ignore[arg-type]
    return out


def budget_to_reach(curves: Sequence[Curve], target: float, mode: str) -> int | None:
    """The fewest iterations at which the mean over ``curves`` is at least as good as ``target``."""
    budgets = sorted({spent for c in curves for spent, _ in c})
    for budget, value in zip(budgets, mean_curve(curves, budgets), strict=True):
        if value is not None and _better(value, target, mode) == value:
            return budget
    return None


def summarize(runs: dict[str, list[dict[str, Any]]], full_budget: int, mode: str) -> dict[str, Any]:
    """Per method: its curves, mean final best, mean total iterations, and the iterations its mean curve
    needs to reach random search's mean final best; plus the target's verdict.

    Args:
        runs: method -> one record per seed, ``{"seed", "trials": [...]}`` (:func:`best_curve`'s trials).
    """
    out: dict[str, Any] = {"methods": {}}
    for method, seeds in runs.items():
        curves = [best_curve(r["trials"], full_budget, mode) for r in seeds]
        finals = [c[-1][1] if c else None for c in curves]
        totals = [c[-1][0] if c else 0 for c in curves]
        out["methods"][method] = {
            "curves": curves,
            "final_best": finals,
            "mean_final_best": None if None in finals else sum(finals) / len(finals),  # type: ignore[arg-type]
            "mean_iterations": sum(totals) / max(1, len(totals)),
        }
    random = out["methods"].get("random_asha")
    reference = random["mean_final_best"] if random else None
    out["random_final_best"] = reference
    for summary in out["methods"].values():
        summary["iterations_to_random_final"] = (
            None if reference is None else budget_to_reach(summary["curves"], reference, mode))
    if "tpe_fifo" in runs:
        out["rung_agreement"] = rung_agreement(runs["tpe_fifo"], full_budget)
    tpe = out["methods"].get("tpe_asha")
    if tpe is None or random is None or reference is None:
        out["target"] = {"checked": False}
        return out
    reached = tpe["iterations_to_random_final"]
    share = None if reached is None else reached / random["mean_iterations"]
    out["target"] = {"checked": True, "random_final_best": reference, "random_iterations": random["mean_iterations"],
                     "tpe_asha_iterations": reached, "share": share,
                     "passed": share is not None and share <= TARGET_SHARE}
    return out


def rung_agreement(runs: Sequence[dict[str, Any]], full_budget: int) -> dict[int, float | None]:
    """Spearman's rank correlation between each earlier report's value and the full-budget value, over the
    trials of ``runs`` that reached the full budget (pooled): how well ASHA's rungs can tell which trial will
    end best. None where it is undefined (fewer than 3 trials, or all values equal)."""
    from scipy.stats import spearmanr

    pairs: dict[int, list[tuple[float, float]]] = {}
    for run in runs:
        for trial in run["trials"]:
            values = {r["training_iteration"]: r["value"] for r in trial["reports"]}
            if values.get(full_budget) is None:
                continue
            for rung in range(1, full_budget):
                if values.get(rung) is not None:
                    pairs.setdefault(rung, []).append((values[rung], values[full_budget]))
    out: dict[int, float | None] = {}
    for rung, p in sorted(pairs.items()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant input: nan, said as None below
            rho = float(spearmanr(*zip(*p, strict=True)).statistic) if len(p) >= 3 else math.nan
        out[rung] = rho if math.isfinite(rho) else None
    return out


def _better(a: float, b: float, mode: str) -> float:
    return max(a, b) if mode == "max" else min(a, b)


# --- running the searches ------------------------------------------------------------------------------

def run_search(spec: Any, dataset: Any, storage: Path, method: str) -> dict[str, Any]:
    """One search of ``method`` (a key of :data:`METHODS`); its trials as :func:`best_curve` records."""
    from ray import tune

    from search.experiment import InterruptionHint, build_run_config, build_trainable, build_tune_config
    from search.report import trial_results

    sampler, early_stopping = METHODS[method]
    start = time.perf_counter()
    with InterruptionHint() as hint:
        grid = tune.Tuner(
            build_trainable(spec, dataset),
            tune_config=build_tune_config(spec, sampler=sampler, early_stopping=early_stopping),
            run_config=dataclasses.replace(build_run_config(spec, str(storage)), verbose=0),
        ).fit()
    if hint.interrupted:
        # Tune returns normally after Ctrl-C; the bench stops (the runs so far stay in --json).
        raise KeyboardInterrupt
    metric = spec.experiment.metric
    trials = []
    for result in trial_results(grid):
        frame = result.metrics_dataframe
        rows = [] if frame is None or metric not in frame else frame.to_dict("records")
        trials.append({
            "config": result.config,
            "reports": [{
                "timestamp": int(row["timestamp"]),
                "training_iteration": int(row["training_iteration"]),
                "iteration": _iteration(row, spec.train.iters_per_report),
                "value": float(row[metric]) if math.isfinite(row[metric]) else None,
            } for row in rows],
        })
    return {"seed": spec.experiment.seed, "wall_s": time.perf_counter() - start, "trials": trials}


def _iteration(row: dict[str, Any], iters_per_report: int) -> int:
    """Training iterations done at a report: its ``iteration``, else reports x ``iters_per_report`` (a
    missing value is NaN in Tune's frame, which ``or`` would not replace)."""
    it = row.get("iteration")
    if isinstance(it, int | float) and math.isfinite(it):
        return int(it)
    return int(row["training_iteration"]) * iters_per_report


def run_all(space: str, methods: list[str], seeds: int, num_samples: int | None,
            partial: Path | None = None) -> tuple[Any, dict[str, Any]]:
    """Every method x seed on one Ray instance and one generated dataset; returns (spec, runs).

    The runs so far are written to ``partial`` (JSON) after each search, so an interrupted bench keeps them.
    """
    import ray

    from fashion_core.engine.datasets import prepare_dataset
    from search.experiment import configure_console

    configure_console(False)
    spec = load_spec(space, num_samples)
    e = spec.experiment
    work = Path(tempfile.mkdtemp(prefix="bench-efficiency-"))
    ray_tmp = tempfile.mkdtemp(prefix="ftray-", dir="/tmp")
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    try:
        d = spec.data
        dataset = prepare_dataset(None, synthetic_root=work / "data", synthetic_images=d.images,
                                  synthetic_size=d.size, val_fraction=d.val_fraction, seed=d.seed)
        # Trials' detectron2 logs stay in their folders (as search.run does without --verbose).
        ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False, _temp_dir=ray_tmp)
        for k in range(seeds):
            seeded = dataclasses.replace(spec, experiment=dataclasses.replace(spec.experiment, seed=e.seed + k))
            for method in methods:
                run = run_search(seeded, dataset, work / f"{method}-seed{e.seed + k}", method)
                runs[method].append(run)
                if partial is not None:
                    partial.write_text(json.dumps({"partial": True, "runs": runs}, default=str))
                curve = best_curve(run["trials"], e.asha.max_t, e.mode)
                print(f"[{method} seed {e.seed + k}] {len(run['trials'])} trials, {curve[-1][0] if curve else 0} "
                      f"iterations, best full-budget {_fmt(curve[-1][1] if curve else None)}, "
                      f"{run['wall_s']:.0f} s", flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    return spec, runs


def load_spec(space: str, num_samples: int | None) -> Any:
    """The space file, with ``num_samples`` trials per search when given."""
    from search.space import load_space

    spec = load_space(space)
    if num_samples is None:
        return spec
    return dataclasses.replace(spec, experiment=dataclasses.replace(spec.experiment, num_samples=num_samples))


def load_runs(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The runs of a ``--json`` file (also one an interrupted bench left), cut to the seeds every method has."""
    runs: dict[str, list[dict[str, Any]]] = json.loads(path.read_text())["runs"]
    common = set.intersection(*({r["seed"] for r in rs} for rs in runs.values()))
    dropped = sum(len(rs) for rs in runs.values()) - len(common) * len(runs)
    if dropped:
        print(f"{path}: {dropped} run(s) of seeds not every method has are left out; seeds {sorted(common)}")
    return {m: [r for r in rs if r["seed"] in common] for m, rs in runs.items()}


# --- the report ----------------------------------------------------------------------------------------

def print_report(spec: Any, runs: dict[str, list[dict[str, Any]]], summary: dict[str, Any]) -> None:
    e, methods = spec.experiment, summary["methods"]
    print(f"\nsearch efficiency on {spec.source}: {e.num_samples} samples per search, {len(next(iter(runs.values())))} "
          f"seed(s), {e.max_concurrent} trials at once, {spec.train.iters_per_report} iterations per report, "
          f"full budget {e.asha.max_t} reports")
    print(f"best {e.metric} measured at the full budget so far (mean over seeds; '-': not every seed has one yet)")
    longest = max(int(max((c[-1][0] for c in s["curves"] if c), default=0)) for s in methods.values())
    step = spec.train.iters_per_report
    budgets = sorted({max(step, round(longest * k / TABLE_ROWS / step) * step) for k in range(1, TABLE_ROWS + 1)})
    means = {m: mean_curve(s["curves"], budgets) for m, s in methods.items()}
    print(f"{'iterations':>10} " + " ".join(f"{m:>12}" for m in methods))
    for i, budget in enumerate(budgets):
        print(f"{budget:>10} " + " ".join(f"{_fmt(means[m][i]):>12}" for m in methods))
    print(f"\n{'method':12} {'final best (per seed)':>30} {'mean':>8} {'iterations':>11} {'to random final':>16}")
    for m, s in methods.items():
        per_seed = " ".join(_fmt(v) for v in s["final_best"])
        print(f"{m:12} {per_seed:>30} {_fmt(s['mean_final_best']):>8} {s['mean_iterations']:>11.0f} "
              f"{_fmt_int(s['iterations_to_random_final'], summary['random_final_best'] is not None):>16}")
    if "rung_agreement" in summary:
        trials = sum(len(r["trials"]) for r in runs["tpe_fifo"])
        rhos = ", ".join(f"report {k}: {_fmt(v, '.2f')}" for k, v in summary["rung_agreement"].items())
        print(f"\nASHA's rungs: in the tpe_fifo runs ({trials} trials, all to the full budget), Spearman's rho "
              f"between a trial's value at an early report and at report {e.asha.max_t}: {rhos or '-'} (1: early "
              f"ranks are final ranks; ASHA stops trials on them)")
    target = summary["target"]
    if not target["checked"]:
        print("\ntarget not checked: it needs tpe_asha and random_asha, and a full-budget value in every seed")
        return
    share = target["share"]
    verdict = "PASS" if target["passed"] else "FAIL"
    reached = ("never reaches it" if share is None else
               f"reaches it at {target['tpe_asha_iterations']} iterations = {share:.2f}x")
    print(f"\ntarget: TPE+ASHA reaches random+ASHA's final best {target['random_final_best']:.4f} within "
          f"{TARGET_SHARE:.1f}x of random's {target['random_iterations']:.0f} iterations: {reached}: {verdict}")
    if not target["passed"]:
        print(why_missed(e.num_samples, runs))


def why_missed(num_samples: int, runs: dict[str, list[dict[str, Any]]]) -> str:
    """What explains a missed target that the run itself shows: TPE's random start-up trials."""
    import optuna

    startup = inspect.signature(optuna.samplers.TPESampler).parameters["n_startup_trials"].default
    same = [f"{_shared_configs(t['trials'], r['trials'])}/{len(t['trials'])}"
            for t, r in zip(runs["tpe_asha"], runs["random_asha"], strict=False)]
    lines = [f"why: TPE samples its first {startup} trials at random (Optuna's n_startup_trials); "
             f"{num_samples} samples per search leave {max(0, num_samples - startup)} for its model."]
    if num_samples <= startup:
        lines.append("With the same seed TPE's start-up draws are random search's draws: configs shared by the "
                     f"two searches per seed: {', '.join(same)}. Their difference is "
                     "run-to-run noise (which trials ASHA lets finish depends on timing); a TPE advantage needs "
                     f"well over {startup} samples (--num-samples).")
    return "\n".join(lines)


def _shared_configs(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int:
    keys = {json.dumps(t["config"], sort_keys=True) for t in b}
    return sum(json.dumps(t["config"], sort_keys=True) in keys for t in a)


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _fmt_int(value: int | None, defined: bool) -> str:
    if not defined:
        return "-"
    return "never" if value is None else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default=str(REPO / "spaces" / "smoke.yaml"))
    parser.add_argument("--seeds", type=int, help="seeds per method (space seed + 0, 1, ...; default 3)")
    parser.add_argument("--num-samples", type=int, help="trials per search (default: the space's)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--json", type=Path, help="also write the figures (every run's trials and curve) here")
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 samples: checks the bench runs")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="run nothing: print the figures of an earlier --json file (an interrupted bench's too)")
    args = parser.parse_args()
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    num_samples = args.num_samples if args.num_samples is not None else (3 if args.quick else None)
    if seeds < 1 or (num_samples is not None and num_samples < 1):
        parser.error("--seeds and --num-samples must be >= 1")

    if args.report:
        spec, runs = load_spec(args.space, num_samples), load_runs(args.report)
    else:
        spec, runs = run_all(args.space, args.methods, seeds, num_samples, args.json)
    e = spec.experiment
    summary = summarize(runs, e.asha.max_t, e.mode)
    print_report(spec, runs, summary)
    if args.json:
        args.json.write_text(json.dumps({
            "space": spec.source, "metric": e.metric, "mode": e.mode, "num_samples": e.num_samples,
            "seeds": len(next(iter(runs.values()))),
            "iters_per_report": spec.train.iters_per_report, "full_budget_reports": e.asha.max_t,
            "summary": summary, "runs": runs,
        }, indent=1, default=str))
        print(f"figures: {args.json}")
    return 0 if summary["target"].get("passed", True) else 1


if __name__ == "__main__":
    sys.exit(main())
