"""Search efficiency, live: the best full-budget metric against training iterations, per search method.

Runs real searches (Ray Tune, Optuna through ``search.study.StudySearch``, ASHA, detectron2 training of the tiny
CPU config) of a space with each method, for several seeds (``experiment.seed`` = the space's + 0, 1, ...: it
seeds the sampler and every trial's training). A method is the space with a few settings changed, exactly as
``python -m search.replay`` names them (:mod:`search.replay.methods`): ``default`` (the space as shipped),
``random_asha``, ``tpe_fifo``, ``random_fifo``, ``optuna_tpe``, each optionally ``NAME:key=value,...``.

What is counted. The x axis is the training iterations spent so far: every report of every trial, in the order
the reports were made (Tune's ``timestamp``, 1 s resolution), adds the iterations the trial trained since its
previous report. The y axis is the best value so far of a trial that trained the full budget (``asha.max_t``
reports), its value being the one the search ranks it by (its best report). ASHA's low-fidelity values do not
count.

``--predict TABLE`` also replays the same methods on a table of recorded curves (``search.replay``, 100
repetitions, the space's budget and workers) and says, per method, whether the live figures fall in the
replay's 25-75% band: whether the replay predicted the live result.

Target: ``default`` reaches ``random_asha``'s median final best (median over seeds) in at most half of
``random_asha``'s median iterations. Exit status 1 when it does not.

Usage: ``python bench/search_efficiency.py [--space bench/curves/space.yaml] [--seeds 3] [--num-samples 16]
[--methods ...] [--json out.json] [--predict bench/curves/tiny_cpu.csv.gz]``; ``--quick``: 1 seed, 3 samples (a
smoke check of the bench, not a measurement); ``--report out.json``: print the figures of an earlier ``--json``
file (written after each search, so an interrupted bench's too).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_SPACE = REPO / "bench" / "curves" / "space.yaml"
DEFAULT_METHODS = ("default", "random_asha", "tpe_fifo")
# The default must reach random + ASHA's final best within this share of random + ASHA's iterations.
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
    seen: dict[int, list[float]] = {}
    for _, index, iterations, report in events:
        spent += iterations
        if report["value"] is not None:
            seen.setdefault(index, []).append(report["value"])
        if report["training_iteration"] >= full_budget and seen.get(index):
            # The trial's value as the search ranks it: its best report.
            value = max(seen[index]) if mode == "max" else min(seen[index])
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


def median_curve(curves: Sequence[Curve], budgets: Sequence[int], mode: str) -> list[float | None]:
    """The median over ``curves`` at each budget (a curve without a value yet counts as the worst); None until
    the median has a value."""
    out: list[float | None] = []
    worst = -math.inf if mode == "max" else math.inf
    for budget in budgets:
        values = sorted((v if v is not None else worst) for v in (value_at(c, budget) for c in curves))
        # The lower median (higher for "min"): a value some seed reached, as search.replay takes it.
        m = values[(len(values) - 1) // 2] if mode == "max" else values[len(values) // 2]
        out.append(None if math.isinf(m) else m)
    return out


def budget_to_reach(curves: Sequence[Curve], target: float, mode: str) -> int | None:
    """The fewest iterations at which the median over ``curves`` is at least as good as ``target``."""
    budgets = sorted({spent for c in curves for spent, _ in c})
    for budget, value in zip(budgets, median_curve(curves, budgets, mode), strict=True):
        if value is not None and _better(value, target, mode) == value:
            return budget
    return None


def _median(values: Sequence[float], mode: str) -> float:
    s = sorted(values)
    return s[(len(s) - 1) // 2] if mode == "max" else s[len(s) // 2]


def summarize(runs: dict[str, list[dict[str, Any]]], full_budget: int, mode: str) -> dict[str, Any]:
    """Per method: its curves, median final best, median total iterations, and the iterations its median curve
    needs to reach random + ASHA's median final best; plus the target's verdict.

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
            "final_best_median": None if None in finals else _median(finals, mode),  # type: ignore[arg-type]
            "iterations": totals,
            "iterations_median": statistics.median(totals) if totals else 0,
        }
    random = out["methods"].get("random_asha")
    reference = random["final_best_median"] if random else None
    out["random_final_best"] = reference
    for summary in out["methods"].values():
        summary["iterations_to_random_final"] = (
            None if reference is None else budget_to_reach(summary["curves"], reference, mode))
    fifo = next((m for m in runs if m.endswith("fifo")), None)
    if fifo is not None:
        out["rung_agreement"] = rung_agreement(runs[fifo], full_budget)
    default = out["methods"].get("default")
    if default is None or random is None or reference is None:
        out["target"] = {"checked": False}
        return out
    reached = default["iterations_to_random_final"]
    share = None if reached is None else reached / random["iterations_median"]
    out["target"] = {"checked": True, "random_final_best": reference, "random_iterations": random["iterations_median"],
                     "default_iterations": reached, "share": share,
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

def method_spec(space: str, method: str, num_samples: int | None, seed: int | None = None) -> Any:
    """The space with ``method``'s settings (and ``num_samples``, ``seed``) written in, validated."""
    from search.replay import method_space
    from search.space import SpaceError, read_yaml

    raw = read_yaml(Path(space), "space file", SpaceError)
    experiment = dict(raw.get("experiment") or {})
    if num_samples is not None:
        experiment["num_samples"] = num_samples
    if seed is not None:
        experiment["seed"] = seed
    return method_space({**raw, "experiment": experiment}, method, source=space)


def run_search(spec: Any, dataset: Any, storage: Path) -> dict[str, Any]:
    """One live search of ``spec``; its trials as :func:`best_curve` records."""
    import dataclasses

    from ray import tune

    from search.experiment import InterruptionHint, build_run_config, build_trainable, build_tune_config
    from search.report import trial_results

    start = time.perf_counter()
    with InterruptionHint() as hint:
        grid = tune.Tuner(
            build_trainable(spec, dataset),
            tune_config=build_tune_config(spec),
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
            partial: Path | None = None) -> tuple[Any, dict[str, list[dict[str, Any]]]]:
    """Every method x seed on one Ray instance and one generated dataset; returns (spec, runs).

    The runs so far are written to ``partial`` (JSON) after each search, so an interrupted bench keeps them.
    """
    import ray

    from fashion_core.engine.datasets import prepare_dataset
    from search.experiment import configure_console

    configure_console(False)
    spec = method_spec(space, "default", num_samples)
    specs = {m: method_spec(space, m, num_samples) for m in methods}  # every method checked before training
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
            for method in methods:
                seeded = method_spec(space, method, num_samples, seed=e.seed + k)
                assert seeded.experiment.searcher == specs[method].experiment.searcher
                run = run_search(seeded, dataset, work / f"{method.replace(':', '_')}-seed{e.seed + k}")
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


def load_runs(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The runs of a ``--json`` file (also one an interrupted bench left), cut to the seeds every method has."""
    runs: dict[str, list[dict[str, Any]]] = json.loads(path.read_text())["runs"]
    common = set.intersection(*({r["seed"] for r in rs} for rs in runs.values()))
    dropped = sum(len(rs) for rs in runs.values()) - len(common) * len(runs)
    if dropped:
        print(f"{path}: {dropped} run(s) of seeds not every method has are left out; seeds {sorted(common)}")
    return {m: [r for r in rs if r["seed"] in common] for m, rs in runs.items()}


# --- the replay's prediction ---------------------------------------------------------------------------

def predict(table: Path, space: str, methods: list[str], num_samples: int | None, workers: int) -> dict[str, Any]:
    """``search.replay``'s figures for the same space, methods and budget on ``table`` (100 repetitions)."""
    from search.replay.__main__ import build_document, get_args_parser, plan_replay, run_plan

    with tempfile.TemporaryDirectory() as tmp:
        patched = Path(tmp) / "space.yaml"
        from search.space import SpaceError, read_yaml

        raw = read_yaml(Path(space), "space file", SpaceError)
        if num_samples is not None:
            raw["experiment"]["num_samples"] = num_samples
        import yaml

        patched.write_text(yaml.safe_dump(raw, sort_keys=False))
        # The replay's own parser: its defaults (the fitted surrogate) are what `python -m search.replay` uses.
        args = get_args_parser().parse_args(["--table", str(table), "--space", str(patched), "--methods", *methods,
                                             "--repetitions", "100", "--workers", str(workers), "--jobs", "2",
                                             "--bootstrap", "1000"])
        plan = plan_replay(args)
        return build_document(plan, run_plan(plan, jobs=2), bootstrap=1000)


def compare(summary: dict[str, Any], replayed: dict[str, Any]) -> list[str]:
    """Per method: the live median final best and iterations against the replay's 25-75% band."""
    lines = []
    for name, live in summary["methods"].items():
        r = replayed["methods"].get(name)
        if r is None or live["final_best_median"] is None or r["final_best_median"] is None:
            continue
        inside = r["final_best_q25"] <= live["final_best_median"] <= r["final_best_q75"]
        lines.append(f"{name:24} live final best {live['final_best_median']:.4f} vs replay "
                     f"{r['final_best_median']:.4f} [{r['final_best_q25']:.4f}-{r['final_best_q75']:.4f}]: "
                     f"{'inside' if inside else 'OUTSIDE'} the band; iterations live {live['iterations_median']:.0f} "
                     f"vs replay {r['iterations_median']:.0f}")
    verdict = replayed.get("default_vs_random")
    target = summary.get("target", {})
    if verdict and target.get("checked"):
        lo, hi = verdict["ci95"]
        live = target["share"]
        inside = live is not None and lo is not None and hi is not None and lo <= live <= hi
        lines.append(f"default vs random_asha: live {_fmt(live, '.2f')}x vs replay {_fmt(verdict['ratio'], '.2f')}x "
                     f"(95% {_fmt(lo, '.2f')}-{_fmt(hi, '.2f')}): {'inside' if inside else 'OUTSIDE'} the interval")
    return lines


# --- the report ----------------------------------------------------------------------------------------

def print_report(spec: Any, runs: dict[str, list[dict[str, Any]]], summary: dict[str, Any]) -> None:
    e, methods = spec.experiment, summary["methods"]
    print(f"\nsearch efficiency on {spec.source}: {e.num_samples} samples per search, {len(next(iter(runs.values())))} "
          f"seed(s), {e.max_concurrent} trials at once, {spec.train.iters_per_report} iterations per report, "
          f"full budget {e.asha.max_t} reports")
    print(f"best {e.metric} of a trial that trained the full budget, so far (median over seeds; '-': none yet)")
    longest = max(int(max((c[-1][0] for c in s["curves"] if c), default=0)) for s in methods.values())
    step = spec.train.iters_per_report
    budgets = sorted({max(step, round(longest * k / TABLE_ROWS / step) * step) for k in range(1, TABLE_ROWS + 1)})
    medians = {m: median_curve(s["curves"], budgets, e.mode) for m, s in methods.items()}
    print(f"{'iterations':>10} " + " ".join(f"{m[:14]:>14}" for m in methods))
    for i, budget in enumerate(budgets):
        print(f"{budget:>10} " + " ".join(f"{_fmt(medians[m][i]):>14}" for m in methods))
    print(f"\n{'method':24} {'final best (per seed)':>30} {'median':>8} {'iterations':>11} {'to random final':>16}")
    for m, s in methods.items():
        per_seed = " ".join(_fmt(v) for v in s["final_best"])
        print(f"{m[:24]:24} {per_seed:>30} {_fmt(s['final_best_median']):>8} {s['iterations_median']:>11.0f} "
              f"{_fmt_int(s['iterations_to_random_final'], summary['random_final_best'] is not None):>16}")
    if "rung_agreement" in summary:
        rhos = ", ".join(f"report {k}: {_fmt(v, '.2f')}" for k, v in summary["rung_agreement"].items())
        print(f"\nrungs (FIFO runs, all to the full budget): Spearman's rho of report k vs report {e.asha.max_t}: "
              f"{rhos or '-'}")
    target = summary["target"]
    if not target["checked"]:
        print("\ntarget not checked: it needs default and random_asha, and a full-budget value in every seed")
        return
    share = target["share"]
    verdict = "PASS" if target["passed"] else "FAIL"
    reached = ("never reaches it" if share is None else
               f"reaches it at {target['default_iterations']} iterations = {share:.2f}x")
    print(f"\ntarget: the default reaches random+ASHA's median final best {target['random_final_best']:.4f} within "
          f"{TARGET_SHARE:.1f}x of random's {target['random_iterations']:.0f} iterations: {reached}: {verdict}")


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _fmt_int(value: int | None, defined: bool) -> str:
    if not defined:
        return "-"
    return "never" if value is None else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default=str(DEFAULT_SPACE), help=f"default {DEFAULT_SPACE}")
    parser.add_argument("--seeds", type=int, help="seeds per method (space seed + 0, 1, ...; default 3)")
    parser.add_argument("--num-samples", type=int, help="trials per search (default: the space's)")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                        help=f"methods as search.replay names them (default: {' '.join(DEFAULT_METHODS)})")
    parser.add_argument("--json", type=Path, help="also write the figures (every run's trials and curve) here")
    parser.add_argument("--predict", type=Path, metavar="TABLE",
                        help="replay the same methods on this table of curves and compare")
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 samples: checks the bench runs")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="run nothing: print the figures of an earlier --json file (an interrupted bench's too)")
    args = parser.parse_args()
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    num_samples = args.num_samples if args.num_samples is not None else (3 if args.quick else None)
    if seeds < 1 or (num_samples is not None and num_samples < 1):
        parser.error("--seeds and --num-samples must be >= 1")

    if args.report:
        spec, runs = method_spec(args.space, "default", num_samples), load_runs(args.report)
    else:
        spec, runs = run_all(args.space, args.methods, seeds, num_samples, args.json)
    e = spec.experiment
    summary = summarize(runs, e.asha.max_t, e.mode)
    print_report(spec, runs, summary)
    document: dict[str, Any] = {
        "space": spec.source, "metric": e.metric, "mode": e.mode, "num_samples": e.num_samples,
        "seeds": len(next(iter(runs.values()))), "iters_per_report": spec.train.iters_per_report,
        "full_budget_reports": e.asha.max_t, "summary": summary, "runs": runs,
    }
    if args.predict:
        replayed = predict(args.predict, args.space, list(runs), num_samples, e.max_concurrent)
        print(f"\nthe replay's prediction ({args.predict}, 100 repetitions, {e.max_concurrent} workers):")
        lines = compare(summary, replayed)
        for line in lines:
            print(f"  {line}")
        document["prediction"] = {"table": str(args.predict), "comparison": lines,
                                  "default_vs_random": replayed.get("default_vs_random"),
                                  "methods": {m: {k: v for k, v in r.items() if not k.startswith("curve")}
                                              for m, r in replayed["methods"].items()}}
    if args.json:
        args.json.write_text(json.dumps(document, indent=1, default=str))
        print(f"figures: {args.json}")
    return 0 if summary["target"].get("passed", True) else 1


if __name__ == "__main__":
    sys.exit(main())
