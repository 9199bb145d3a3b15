"""``python -m search.run --space spaces/smoke.yaml``: run (or resume) a hyper-parameter search.

Reads and validates the space, prepares the data once (generating the synthetic set when no data
is given, and parsing real data into the reader cache so trials start fast), connects to Ray,
refuses GPU requests the cluster cannot meet, runs Tune, and writes the ranked results table, the
best config and plots into the experiment folder.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from search.checks import ExperimentLockedError, ResourceError
from search.space import SearchSpec, SpaceError, parse_space

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
    parser.add_argument("--storage-url",
                        help="SQLAlchemy URL of the Optuna study's database (default: the space's "
                        "experiment.storage, else sqlite:///<experiment>/study.db)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted experiment of this name: finished trials are kept; its "
                        "state must carry this user's signatures (README, Security)")
    parser.add_argument("--trust-unsigned", action="store_true",
                        help="with --resume: accept and sign the experiment's state files that carry no signature "
                        "(an experiment from before signed state); only for a folder whose every file you trust")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address ('auto' for a running cluster); default: start a local one")
    parser.add_argument("--num-samples", type=int,
                        help="override experiment.num_samples; with --resume, grow the search to this many trials")
    parser.add_argument("--warm-start", metavar="SOURCE",
                        help="start the study with the finished and pruned trials of an earlier one whose parameters "
                        "fit this space: its experiment folder (its study.db) or storage URL (<url>#<study> picks "
                        "one of several studies)")
    parser.add_argument("--max-concurrent", type=int, help="override experiment.max_concurrent")
    parser.add_argument("--cpus-per-trial", type=float, help="override experiment.resources.cpu")
    parser.add_argument("--gpus-per-trial", type=float, help="override experiment.resources.gpu (e.g. 0.5)")
    parser.add_argument("--verbose", action="store_true",
                        help="print everything: Tune's default output, every trial's detectron2 log, warnings "
                        "(default: the trial table and one line per trial event; logs in <trial>/train/log.txt)")
    return parser


def load_spec(args: argparse.Namespace) -> SearchSpec:
    """The space file with the command line's overrides in place, validated once, as one document."""
    from search.space import pin_resources, read_yaml

    raw = read_yaml(args.space, "space file", SpaceError)
    patched = apply_overrides(raw, args)
    source = str(args.space) if patched == raw else f"{args.space} with the command-line overrides"
    spec = parse_space(patched, source=source)
    return pin_resources(spec, cpu=args.cpus_per_trial is not None, gpu=args.gpus_per_trial is not None)


def apply_overrides(raw: Any, args: argparse.Namespace) -> Any:
    """The space file's mapping with ``--name``, ``--num-samples``, ``--max-concurrent``,
    ``--cpus-per-trial`` and ``--gpus-per-trial`` written into its ``experiment`` section (a copy), so
    they are validated with the rest by :func:`search.space.parse_space`.

    ``--cpus-per-trial`` / ``--gpus-per-trial`` set that field for every trial: :func:`load_spec` also
    drops the per-value resources (``params.<name>.resources``) of that field. A file whose
    ``experiment`` is not a mapping is returned as it is, for the parser to name the problem.
    """
    values = {"name": args.name, "num_samples": args.num_samples, "max_concurrent": args.max_concurrent}
    resources = {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial}
    given = {k: v for k, v in values.items() if v is not None}  # --name "" must fail validation
    given_resources = {k: v for k, v in resources.items() if v is not None}
    if not isinstance(raw, dict) or not (given or given_resources):
        return raw
    experiment = raw.get("experiment") if raw.get("experiment") is not None else {}
    if not isinstance(experiment, dict):
        return raw
    experiment = {**experiment, **given}
    if given_resources:
        old = experiment.get("resources") if experiment.get("resources") is not None else {}
        experiment["resources"] = {**old, **given_resources} if isinstance(old, dict) else old
    return {**raw, "experiment": experiment}


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from search.experiment import StateSignatureError, configure_console

    configure_console(args.verbose)
    from fashion_core.data import DataError

    try:
        return run(args)
    except (SpaceError, SearchError, ResourceError, DataError, FileNotFoundError, ExperimentLockedError,
            StateSignatureError) as exc:
        # Problems with the user's input: one clear line, no traceback, nothing started.
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    if args.trust_unsigned and not args.resume:
        raise SearchError("--trust-unsigned accepts the unsigned state of an experiment to resume: pass --resume too")
    spec = load_spec(args)
    # The earlier study's trials that fit, read first: a bad source is refused in seconds.
    warm = _plan_warm_start(args, spec) if args.warm_start else None
    from search.checks import preflight

    # What only the model and the evaluator can check (config keys, the metric), before anything is written.
    preflight(spec, data_override=args.data)
    storage = args.storage_path if "://" in args.storage_path else str(Path(args.storage_path).resolve())
    from search.checks import lock_experiment
    from search.experiment import experiment_path

    exp_path = experiment_path(storage, spec.experiment.name)
    # Removed again if the start fails before any trial runs (no experiment to resume, bad data, missing GPUs):
    # nothing is lost, and the same --name can be run again.
    fresh = "://" not in exp_path and not Path(exp_path).exists()
    with _removed_on_failed_start(exp_path, fresh):
        lock_experiment(exp_path)  # held until this process exits
        exists = _experiment_exists(exp_path)
        if args.resume and not exists:
            raise SearchError(f"--resume: no experiment to resume at {exp_path}")
        if exists and not args.resume:
            raise SearchError(f"an experiment already exists at {exp_path}; pass --resume to continue it "
                              "or --name to start another")
        if args.resume:  # before anything reads its state (the growth below unpickles some)
            _check_signatures(exp_path, args.trust_unsigned)
        grown = _grow(exp_path, args.num_samples) if args.resume and args.num_samples is not None else ""
        dataset = _prepare_data(spec, args, exp_path)

    import ray

    from fashion_core.engine.hooks import THRESHOLDS_FILE
    from search.checks import check_resources, init_ray
    from search.experiment import (
        InterruptionHint,
        build_tuner,
        confirmation_configs,
        exit_status,
        restore_confirmation,
        restore_tuner,
        run_confirmation,
    )
    from search.report import CONFIRM, SEARCH, results_table, trial_results, write_analysis, write_best, write_results
    from search.study import default_storage_url, open_storage, without_password

    e = spec.experiment
    names = [p.name for p in spec.params]
    ranking: dict[str, Any] = {"seed": e.seed, "full_budget": e.asha.max_t, "objectives": e.all_objectives}
    # With remote storage, the tables and best/ are written into a local folder named after the URI.
    remote = "://" in exp_path
    local_out = Path(storage.split("://", 1)[1].replace("/", "_")) / e.name if remote else Path(exp_path)
    study_url = args.storage_url or e.storage or default_storage_url(local_out)
    try:
        open_storage(study_url)  # a bad URL fails here, before Ray starts
    except ValueError as exc:
        raise SearchError(str(exc)) from None
    if warm is not None:
        _apply_warm_start(warm, study_url, e.name, [o.mode for o in e.all_objectives])
    if grown:
        print(grown, flush=True)
    init_ray(args.address, log_to_driver=args.verbose)
    try:
        with _removed_on_failed_start(exp_path, fresh):
            check_resources(spec)
        if args.resume:
            tuner = restore_tuner(spec, dataset, exp_path)
        else:
            tuner = build_tuner(spec, dataset, storage, study_url, verbose=args.verbose)
            print(f"study: {without_password(study_url)} (study {e.name!r})", flush=True)
        print(f"experiment: {exp_path}\n  TensorBoard: tensorboard --logdir {exp_path}\n"
              f"  trial logs:  <trial>/train/log.txt" + ("" if args.verbose else "  (--verbose prints them)"),
              flush=True)
        with InterruptionHint() as hint:
            grids = [(SEARCH, tuner.fit())]
        if hint.interrupted:
            # Tune marks every trial TERMINATED on its way out; the saved state has what --resume continues.
            grids = [(SEARCH, restore_tuner(spec, dataset, exp_path).get_results())]
        else:
            configs = confirmation_configs(results_table(grids, e.metric, e.mode, names, **ranking), spec)
            if configs:
                with InterruptionHint() as hint:
                    confirmed = run_confirmation(spec, dataset, exp_path, configs, resume=args.resume,
                                                 verbose=args.verbose)
                if hint.interrupted:
                    confirmed = restore_confirmation(spec, dataset, exp_path).get_results()
                grids.append((CONFIRM, confirmed))
    finally:
        ray.shutdown()
    table = results_table(grids, e.metric, e.mode, names, **ranking)
    write_results(table, local_out)
    results = {str(r.path): r for _, grid in grids for r in trial_results(grid)}
    # An interrupted search ships nothing yet: its ranking is not final (--resume finishes it).
    best = None if hint.interrupted else write_best(table, results, local_out, e.metric, e.mode, dataset)
    summary = write_analysis(study_url, e.name, table, local_out, metric=e.metric, param_names=names,
                             thresholds_file=best / THRESHOLDS_FILE if best else None)
    _print_summary(table, spec, local_out, best, summary)
    code, why = exit_status(table, e.metric, hint.interrupted, _resume_argv(args, spec, storage))
    if code:
        print(f"error: {why}", file=sys.stderr)
    return code


def _plan_warm_start(args: argparse.Namespace, spec: SearchSpec) -> Any:
    """``--warm-start``'s trials that fit the space (:mod:`search.study.warm_start`); a bad source is one line."""
    if args.resume:
        raise SearchError("--warm-start starts a new search from an earlier study; --resume continues this one, "
                          "whose study has its trials already: pass one of them")
    from search.study import WarmStartError, plan_warm_start

    objectives = spec.experiment.all_objectives
    with _one_line(WarmStartError):
        return plan_warm_start(args.warm_start, spec.params, [o.mode for o in objectives],
                               [o.metric for o in objectives])


def _apply_warm_start(plan: Any, study_url: str, study_name: str, modes: list[str]) -> None:
    """Copy the planned trials into the new study before the searcher loads it (TPE starts from them)."""
    from search.study import WarmStartError, apply_warm_start

    with _one_line(WarmStartError):
        print(apply_warm_start(plan, study_url, study_name, modes), flush=True)


def _check_signatures(exp_path: str, trust_unsigned: bool) -> None:
    """Refuse an experiment whose state is not as this user's searches signed it (:mod:`search.experiment.signing`);
    with ``trust_unsigned``, sign its unsigned files instead, and say so."""
    from search.experiment import verify_state

    signed = verify_state(exp_path, trust_unsigned=trust_unsigned)
    if signed:
        names = [str(Path(s).relative_to(exp_path)) if s.startswith(exp_path) else s for s in signed]
        more = f", and {len(names) - 5} more" if len(names) > 5 else ""
        print(f"--trust-unsigned: signed {len(names)} state file(s) of {exp_path} that had no signature: "
              f"{', '.join(names[:5])}{more}", flush=True)


def _grow(exp_path: str, num_samples: int) -> str:
    """``--resume --num-samples N``: the saved search's new target (:mod:`search.experiment.grow`), in one line."""
    from search.experiment import GrowError, grow_search

    with _one_line(GrowError):
        return grow_search(exp_path, num_samples)


@contextlib.contextmanager
def _one_line(error: type[Exception]) -> Iterator[None]:
    """A module's bad-input ``error`` (its message is one line) becomes a :class:`SearchError`: exit 2."""
    try:
        yield
    except error as exc:
        raise SearchError(str(exc)) from None


def _resume_argv(args: argparse.Namespace, spec: SearchSpec, storage: str) -> list[str]:
    """The command line that continues this experiment."""
    from search.study import without_password

    argv = ["python", "-m", "search.run", "--space", str(args.space), "--name", spec.experiment.name,
            "--storage-path", storage]
    # The study's URL too (a password in it masked: README says to keep it in ~/.pgpass).
    storage_url = without_password(args.storage_url) if args.storage_url else None
    for flag, value in (("--data", args.data), ("--data-images", args.data_images), ("--address", args.address),
                        ("--storage-url", storage_url)):
        if value:
            argv += [flag, str(value)]
    return [*argv, "--resume"]


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
    """Whether ``path`` holds an experiment to keep: Tune's state with at least one trial report (locally).

    A start that failed before any trial reported (an earlier version without these checks, a crash at
    start-up) leaves Tune's state and nothing of value; it must not block starting again under the same name.
    """
    from ray import tune

    if "://" not in path and not Path(path).exists():
        return False
    if not tune.Tuner.can_restore(path):
        return False
    if "://" in path:
        return True
    reported = any(f.stat().st_size > 0 for f in Path(path).glob("*/result.json"))
    if not reported:
        logger.info("%s holds an experiment without any report (a failed start); starting over", path)
    return reported


@contextlib.contextmanager
def _removed_on_failed_start(path: str, fresh: bool) -> Iterator[None]:
    """Remove the local experiment folder ``path`` when the block fails and this run created the folder
    (``fresh``; no trial ran there yet, so nothing is lost): a corrected command can reuse the name."""
    try:
        yield
    except BaseException:
        if fresh and Path(path).exists():
            shutil.rmtree(path, ignore_errors=True)
        raise


def _print_summary(table: Any, spec: SearchSpec, out: Path, best: Path | None, summary: Path | None) -> None:
    metric = spec.experiment.metric
    print("\n=== search finished ===")
    if table.empty:
        print("no trials ran")
    else:
        others = [o.metric for o in spec.experiment.objectives[1:]]
        cols = ["rank", "stage", "trial", "seed", "status", metric, *others, "pareto", "mean", "std", "reports",
                *[c for c in table.columns if c.startswith("param/")], "error"]
        # Columns with nothing in them (no error, no confirmed config yet) are left out.
        with_cols = [c for c in cols if c in table.columns and table[c].replace("", None).notna().any()]
        import pandas as pd

        with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40,
                               "display.precision", 4):
            print(table[with_cols].head(12).to_string(index=False))
        winner = table.iloc[0]
        if pd.notna(winner["mean"]):
            spread = f" +- {winner['std']:.4f}" if pd.notna(winner["std"]) else ""
            print(f"\nwinner: {metric} {winner['mean']:.4f}{spread} (mean{' +- std' if spread else ''} over "
                  f"{int(winner['seeds'])} full-budget run(s); its best run {winner[metric]:.4f}, trial "
                  f"{winner.get('trial', winner['trial_id'])})")
    print(f"\nresults:     {out / 'results.csv'}")
    if best is not None:
        print(f"the winner:  {best}/  (model.pth, config.yaml with its thresholds, metrics.json)")
    if summary is not None:
        print(f"summary:     {summary}  (each choice's best and median per level, importances, plots)")
    print(f"plots:       {out / 'plots'}")
    print(f"TensorBoard: tensorboard --logdir {out}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
