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
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.checks import ExperimentLockedError, ResourceError
from search.space import SearchSpec, SpaceError, parse_space

if TYPE_CHECKING:
    from search.experiment import StudyChoice

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
                        "state must carry this user's signatures (docs/security.md)")
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
    from search.checks import lock_experiment, preflight
    from search.experiment import ExperimentLocation, prepare_data

    place = ExperimentLocation.of(args.storage_path, spec.experiment.name)
    exp_path = place.path
    # Removed again if the start fails before any trial runs (no experiment to resume, bad data, missing GPUs):
    # nothing is lost, and the same --name can be run again.
    fresh, fresh_storage = place.fresh, place.fresh_storage
    with place.removed_on_failed_start(fresh, fresh_storage):
        lock_experiment(exp_path)  # held until this process exits
        exists = place.has_experiment()
        if args.resume and not exists:
            raise SearchError(f"--resume: no experiment to resume at {exp_path}")
        if exists and not args.resume:
            raise SearchError(f"an experiment already exists at {exp_path}; pass --resume to continue it "
                              "or --name to start another")
        if args.resume:  # before anything reads its state
            _check_signatures(exp_path, args.trust_unsigned)
        # What only the model and the evaluator can check (config keys, the metric), before any data or study is
        # written; after the checks of the folder above, which take no detectron2 import (2 s rather than 7 for
        # "already exists", the README's command run twice).
        preflight(spec, data_override=args.data)
        if (args.data or spec.data.path) is None and place.remote:
            raise SearchError("synthetic data is generated under a local --storage-path; with a URI, pass --data")
        dataset = prepare_data(spec, place, args.data, args.data_images)

    import ray

    from search.checks import check_resources, init_ray
    from search.experiment import (
        InterruptionHint,
        build_tuner,
        confirmation_configs,
        exit_status,
        record_of,
        restore_confirmation,
        restore_tuner,
        run_confirmation,
        write_record,
    )
    from search.report import CONFIRM, SEARCH, print_summary, ranked_trials, write_outcome
    from search.study import safe_url

    e = spec.experiment
    # The study is the one the experiment records, in the folder where it is now (search.experiment.record).
    study, saved_target = _study(args, spec, place.local_out)
    if warm is not None:
        _apply_warm_start(warm, study.url, study.name, [o.mode for o in e.all_objectives])
    if study.note:
        print(study.note, flush=True)
    init_ray(args.address, log_to_driver=args.verbose)
    try:
        with place.removed_on_failed_start(fresh, fresh_storage):
            check_resources(spec)
        if args.resume:
            tuner, grown, target = _resume(spec, dataset, exp_path, study, saved_target, args.num_samples)
            if grown:
                print(grown, flush=True)
        else:
            tuner = build_tuner(spec, dataset, place.storage, study.url, study_name=study.name,
                                verbose=args.verbose)
            target = e.num_samples
        print(f"study: {safe_url(study.url)} (study {study.name!r})", flush=True)
        write_record(place.local_out, record_of(place.local_out, study, target))
        print(f"experiment: {exp_path}\n  TensorBoard: tensorboard --logdir {exp_path}\n"
              f"  trial logs:  <trial>/train/log.txt" + ("" if args.verbose else "  (--verbose prints them)"),
              flush=True)
        with InterruptionHint() as hint:
            grids = [(SEARCH, tuner.fit())]
        if hint.interrupted:
            # Tune marks every trial TERMINATED on its way out; the saved state has what --resume continues.
            grids = [(SEARCH, restore_tuner(spec, dataset, exp_path).get_results())]
        else:
            configs = confirmation_configs(ranked_trials(grids, spec), spec)
            if configs:
                with InterruptionHint() as hint:
                    confirmed = run_confirmation(spec, dataset, exp_path, configs, resume=args.resume,
                                                 verbose=args.verbose)
                if hint.interrupted:
                    confirmed = restore_confirmation(spec, dataset, exp_path).get_results()
                grids.append((CONFIRM, confirmed))
    finally:
        ray.shutdown()
    written = write_outcome(grids, spec, place.local_out, dataset, study.url, study.name,
                            interrupted=hint.interrupted)
    table = written.table
    print_summary(table, spec, place.local_out, written.best, written.summary, written.rungs)
    code, why = exit_status(table, e.metric, hint.interrupted, _resume_argv(args, spec, place.storage))
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


def _study(args: argparse.Namespace, spec: SearchSpec, folder: Path) -> tuple[StudyChoice, int]:
    """The study this run uses (:mod:`search.experiment.record`; a bad URL, or one that is not the experiment's,
    is one line, before Ray starts) and the trial target the experiment recorded (a new one: the space's)."""
    from search.experiment import RecordError, new_study, read_record, resumed_study
    from search.study import open_storage

    e = spec.experiment
    given = args.storage_url or e.storage
    given_by = "--storage-url" if args.storage_url else f"experiment.storage of {args.space}"
    with _one_line(RecordError):
        if not args.resume:
            study = new_study(folder, given, e.name)
            with _one_line(ValueError):
                open_storage(study.url)  # a bad URL fails here, before Ray starts
            return study, e.num_samples
        record = read_record(folder)
        return resumed_study(folder, record, given, given_by, e.name), record.num_samples if record else e.num_samples


def _resume(spec: SearchSpec, dataset: Any, exp_path: str, study: StudyChoice, saved_target: int,
            num_samples: int | None) -> tuple[Any, str, int]:
    """``--resume`` (``--num-samples N``: grow it; :mod:`search.experiment.grow`): the restored Tuner, the line
    that says what N does, the target. A study that is not the experiment's is one line."""
    from search.experiment import resume_tuner
    from search.study import StudyMismatchError, safe_url

    try:
        return resume_tuner(spec, dataset, exp_path, study.url, study.name, saved_target=saved_target,
                            num_samples=num_samples)
    except StudyMismatchError as exc:
        raise SearchError(f"--resume: {safe_url(study.url)}: {exc}; pass that one with --storage-url") from None


@contextlib.contextmanager
def _one_line(error: type[Exception]) -> Iterator[None]:
    """A module's bad-input ``error`` (its message is one line) becomes a :class:`SearchError`: exit 2."""
    try:
        yield
    except error as exc:
        raise SearchError(str(exc)) from None


def _resume_argv(args: argparse.Namespace, spec: SearchSpec, storage: str) -> list[str]:
    """The command line that continues this experiment."""
    argv = ["python", "-m", "search.run", "--space", str(args.space), "--name", spec.experiment.name,
            "--storage-path", storage]
    from search.study import safe_url

    # The study URL without its password, as everywhere it is printed or recorded.
    storage_url = safe_url(args.storage_url) if args.storage_url else None
    for flag, value in (("--data", args.data), ("--data-images", args.data_images), ("--address", args.address),
                        ("--storage-url", storage_url)):
        if value:
            argv += [flag, str(value)]
    return [*argv, "--resume"]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
