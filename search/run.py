"""``python -m search.run --space spaces/smoke.yaml``: run (or resume) a hyper-parameter search.

Reads and validates the space, prepares the data once (generating the synthetic set when no data
is given, and parsing real data into the reader cache so trials start fast), connects to Ray,
refuses GPU requests the cluster cannot meet, runs Tune, and writes the ranked results table, the
best config and plots into the experiment folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Any

from search.cluster import ResourceError
from search.space import SearchSpec, SpaceError, load_space

logger = logging.getLogger("search.run")

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STORAGE = REPO_ROOT / "output" / "search"


class SearchError(RuntimeError):
    """A problem found before or while starting the search; printed without a traceback."""


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m search.run",
        description="Search attribute Mask R-CNN hyper-parameters with Ray Tune + Optuna (TPE) + ASHA.",
    )
    parser.add_argument("--space", required=True, type=Path, help="search space YAML (see spaces/README.md)")
    parser.add_argument("--data", help="dataset path: a Kaggle folder (train.csv, train/) or a Fashionpedia JSON; "
                        "default: the space's data section (synthetic when it names none)")
    parser.add_argument("--data-images", help="image folder for a Fashionpedia JSON given with --data")
    parser.add_argument("--name", help="experiment name (folder under the storage path); default: the space's")
    parser.add_argument("--storage-path", default=str(DEFAULT_STORAGE),
                        help=f"local folder or URI (s3://..., gs://...) for results and checkpoints "
                        f"(default: {DEFAULT_STORAGE})")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted experiment of this name: finished trials are kept")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address ('auto' for a running cluster); default: start a local one")
    parser.add_argument("--num-samples", type=int, help="override experiment.num_samples")
    parser.add_argument("--max-concurrent", type=int, help="override experiment.max_concurrent")
    parser.add_argument("--cpus-per-trial", type=float, help="override experiment.resources.cpu")
    parser.add_argument("--gpus-per-trial", type=float, help="override experiment.resources.gpu (e.g. 0.5)")
    return parser


def apply_overrides(spec: SearchSpec, args: argparse.Namespace) -> SearchSpec:
    """Command-line overrides, validated like the file (they go through the same parser).

    ``--cpus-per-trial`` / ``--gpus-per-trial`` set that field for every trial, per-value
    resources (``params.<name>.resources``) included.
    """
    from search.trial_resources import pin_resources

    spec = pin_resources(spec, cpu=args.cpus_per_trial is not None, gpu=args.gpus_per_trial is not None)
    raw: dict[str, Any] = {}
    e = spec.experiment
    if args.name:
        raw["name"] = args.name
    if args.num_samples is not None:
        raw["num_samples"] = args.num_samples
    if args.max_concurrent is not None:
        raw["max_concurrent"] = args.max_concurrent
    resources = {"cpu": e.resources.cpu, "gpu": e.resources.gpu}
    if args.cpus_per_trial is not None:
        resources["cpu"] = args.cpus_per_trial
    if args.gpus_per_trial is not None:
        resources["gpu"] = args.gpus_per_trial
    if not raw and resources == {"cpu": e.resources.cpu, "gpu": e.resources.gpu}:
        return spec
    from search.space import parse_space

    # Re-validate just the experiment section with the overrides in place.
    base = dataclasses.asdict(e)
    base.update(raw)
    base["resources"] = resources
    base["asha"] = dataclasses.asdict(e.asha)
    base["thresholds"] = {**dataclasses.asdict(e.thresholds)}
    base["thresholds"]["score_grid"] = list(e.thresholds.score_grid)
    base["thresholds"]["attribute_grid"] = list(e.thresholds.attribute_grid)
    checked = parse_space({"experiment": base}, source="command line").experiment
    return dataclasses.replace(spec, experiment=checked)


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from fashion_core.data import DataError

    try:
        return run(args)
    except (SpaceError, SearchError, ResourceError, DataError, FileNotFoundError) as exc:
        # Problems with the user's input: one clear line, no traceback, nothing started.
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    spec = apply_overrides(load_space(args.space), args)
    storage = args.storage_path if "://" in args.storage_path else str(Path(args.storage_path).resolve())
    from search.tuner import experiment_path

    exp_path = experiment_path(storage, spec.experiment.name)
    exists = _experiment_exists(exp_path)
    if args.resume and not exists:
        raise SearchError(f"--resume: no experiment to resume at {exp_path}")
    if exists and not args.resume:
        raise SearchError(f"an experiment already exists at {exp_path}; pass --resume to continue it "
                          "or --name to start another")

    dataset = _prepare_data(spec, args, exp_path)

    import ray

    from search.bundle import write_best
    from search.cluster import check_resources, init_ray
    from search.confirm import confirmation_configs, run_confirmation
    from search.results import CONFIRM, SEARCH, results_table, write_results
    from search.tuner import build_tuner, restore_tuner

    e = spec.experiment
    names = [p.name for p in spec.params]
    ranking = {"seed": e.seed, "full_budget": e.asha.max_t}
    # With remote storage, the tables and best/ are written into a local folder named after the URI.
    remote = "://" in exp_path
    local_out = Path(storage.split("://", 1)[1].replace("/", "_")) / e.name if remote else Path(exp_path)
    init_ray(args.address)
    try:
        check_resources(spec)
        tuner = restore_tuner(spec, dataset, exp_path) if args.resume else build_tuner(spec, dataset, storage)
        print(f"experiment: {exp_path}\n  TensorBoard: tensorboard --logdir {exp_path}", flush=True)
        grids = [(SEARCH, tuner.fit())]
        configs = confirmation_configs(results_table(grids, e.metric, e.mode, names, **ranking), spec)
        if configs:
            grids.append((CONFIRM, run_confirmation(spec, dataset, exp_path, configs, resume=args.resume)))
    finally:
        ray.shutdown()
    table = results_table(grids, e.metric, e.mode, names, **ranking)
    write_results(table, grids, local_out, e.metric, names)
    results = {str(r.path): r for _, grid in grids for r in (grid[i] for i in range(len(grid)))}
    best = write_best(table, results, local_out, e.metric, e.mode, dataset)
    _print_summary(table, spec, local_out, best)
    return 0


def _prepare_data(spec: SearchSpec, args: argparse.Namespace, exp_path: str) -> Any:
    """The space's data (or --data), generated or parsed once here so bad data fails before Ray."""
    from fashion_core.engine.datasets import prepare_dataset

    d = spec.data
    data = args.data or d.path
    remote = "://" in exp_path
    if data is None and remote:
        raise SearchError("synthetic data is generated under a local --storage-path; with a URI, pass --data")
    return prepare_dataset(
        data,
        synthetic_root=Path(exp_path) / "data",
        # With shared storage, the parsed-CSV cache stays on each node's own disk (an absolute path).
        cache_dir=Path.home() / ".cache" / "fashion-tune" if remote else None,
        images=args.data_images,
        synthetic_images=d.images,
        synthetic_size=d.size,
        val_fraction=d.val_fraction,
        max_images=d.max_images,
        seed=d.seed,
    )


def _experiment_exists(path: str) -> bool:
    from ray import tune

    if "://" not in path and not Path(path).exists():
        return False
    return bool(tune.Tuner.can_restore(path))


def _print_summary(table: Any, spec: SearchSpec, out: Path, best: Path | None) -> None:
    metric = spec.experiment.metric
    print("\n=== search finished ===")
    if table.empty:
        print("no trials ran")
    else:
        cols = ["rank", "stage", "seed", "status", metric, "mean", "std", "reports",
                *[c for c in table.columns if c.startswith("param/")], "error"]
        with_cols = [c for c in cols if c in table.columns]
        import pandas as pd

        with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40,
                               "display.precision", 4):
            print(table[with_cols].head(12).to_string(index=False))
        winner = table.iloc[0]
        if pd.notna(winner["mean"]):
            print(f"\nwinner: {metric} {winner['mean']:.4f} +- {_or_nan(winner['std']):.4f} (mean +- std over "
                  f"{int(winner['seeds'])} seeds; its best run {winner[metric]:.4f}, trial {winner['trial_id']})")
    print(f"\nresults:     {out / 'results.csv'}")
    if best is not None:
        print(f"the winner:  {best}/  (model.pth, config.yaml with its thresholds, metrics.json)")
    print(f"plots:       {out / 'plots'}")
    print(f"TensorBoard: tensorboard --logdir {out}")


def _or_nan(value: Any) -> float:
    return float(value) if value == value else float("nan")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
