"""Record a table of real learning curves: configs drawn uniformly from a space, each trained to the full budget.

``python -m search.replay`` replays searches against the table (the searcher and scheduler ``search.run``
builds, a simulated clock, no training), as Syne Tune's blackbox repository and LCBench do with their tables;
theirs need downloads and are not this trainable's landscape, so this records our own.

What is recorded. ``--configs`` configs drawn from ``--space`` by Optuna's random sampler (the space's own
distributions: log-uniform ones log-uniformly; conditional parameters only where active), seeded by the
space's ``experiment.seed``; each is trained with training seeds ``0 .. --seeds - 1`` for ``asha.max_t``
reports of ``train.iters_per_report`` iterations, with the learning-rate schedule a search trial of that
budget gets (``TrialSetup``: steps and warm-up scaled to ``max_t x iters_per_report``) and no early
stopping, by the same ``run_training`` a Tune trial runs, one CPU thread per run as a 1-CPU trial has.
Every report's metrics, its iterations and the seconds since the run started are kept.

The table (``--table``, gzip-compressed CSV): one row per (config, seed, report) with the columns
``config_id, seed, report, iterations, seconds``, ``param.<name>`` per searched parameter (empty where the
parameter is inactive), ``diverged`` and one column per reported metric. Lines starting with ``#`` at the
top say how it was recorded (command, commit, machine, date) and carry the space's ``params`` section as
JSON (``# params: ...``), so the table is self-contained. A diverged run ends with one row of ``diverged`` 1.

Resumable: each finished run is written to ``--work/runs/c<config>_s<seed>.json`` and skipped the next time;
the table is rebuilt from those files at the end (``--assemble`` rebuilds it without training). The first call
notes its command, commit and date in ``--work/recording.json``, which the table's header gives (a recording
that resumes across commits is the first commit's).

Usage::

    python bench/record_curves.py [--configs 100] [--seeds 2] [--workers 2] [--work DIR] [--table FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import io
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_SPACE = REPO / "bench" / "curves" / "space.yaml"
DEFAULT_TABLE = REPO / "bench" / "curves" / "tiny_cpu.csv.gz"
DEFAULT_WORK = REPO / "output" / "record_curves"
# The columns every table starts with (search.replay reads them).
KEY_COLUMNS = ("config_id", "seed", "report", "iterations", "seconds")


def draw_configs(spec: Any, count: int) -> list[dict[str, Any]]:
    """``count`` configs of ``spec``'s params, drawn by Optuna's random sampler seeded with ``experiment.seed``.

    The same space and seed give the same configs (so a resumed recording trains the same ones).
    """
    import optuna

    from search.space import DefineByRun

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=spec.experiment.seed))
    space = DefineByRun(spec.params)
    configs = []
    for _ in range(count):
        trial = study.ask()
        space(trial)
        configs.append(dict(trial.params))
        study.tell(trial, 0.0)
    return configs


def _init_worker(log_dir: str) -> None:
    """One CPU thread per run (a 1-CPU trial's); detectron2's console output into the worker's log file."""
    import torch

    torch.set_num_threads(1)
    log = open(Path(log_dir) / f"worker-{os.getpid()}.log", "a", buffering=1)  # noqa: SIM115 (the process's life)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)


def train_run(space: str, data_root: str, config_id: int, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Train one config with one seed to the space's full budget; its reports (in a worker process)."""
    from fashion_core.engine.datasets import prepare_dataset
    from fashion_core.engine.run import run_training
    from search.space import load_space, trial_setup

    spec = load_space(space)
    d = spec.data
    dataset = prepare_dataset(None, synthetic_root=Path(data_root), synthetic_images=d.images,
                              synthetic_size=d.size, val_fraction=d.val_fraction, seed=d.seed)
    setup = trial_setup(spec, dataset)
    reports: list[dict[str, Any]] = []
    started = time.perf_counter()

    def report(metrics: dict[str, float], write_checkpoint: Any) -> None:  # no checkpoint: nothing resumes a run
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        reports.append({"report": len(reports) + 1, "iterations": int(numeric.get("iteration", 0)),
                        "seconds": round(time.perf_counter() - started, 3), "metrics": numeric})

    diverged = ""
    with tempfile.TemporaryDirectory(prefix="record-curves-") as out:
        try:
            run_training({**params, "seed": seed}, setup, Path(out), reporter=report)
        except FloatingPointError as exc:  # as train_trial: a diverged run ends with the reports it made
            diverged = str(exc).splitlines()[0] if str(exc) else "non-finite loss"
    return {"config_id": config_id, "seed": seed, "params": params, "reports": reports, "diverged": diverged,
            "wall_s": round(time.perf_counter() - started, 3)}


def run_file(work: Path, config_id: int, seed: int) -> Path:
    return work / "runs" / f"c{config_id:03d}_s{seed}.json"


RECORDING = "recording.json"


def _commit() -> str:
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or "unknown"


def record(space: str, configs: int, seeds: int, workers: int, work: Path,
           argv: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Train every (config, seed) not recorded in ``work`` yet, ``workers`` at a time; every recorded run."""
    from fashion_core.engine.datasets import prepare_dataset
    from search.space import load_space

    spec = load_space(space)
    (work / "runs").mkdir(parents=True, exist_ok=True)
    if not (work / RECORDING).is_file():
        (work / RECORDING).write_text(json.dumps({
            "command": shlex.join(["python", "bench/record_curves.py", *argv]), "commit": _commit(),
            "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")}))
    (work / "logs").mkdir(parents=True, exist_ok=True)
    d = spec.data
    # Generated once here, so the workers only read it.
    prepare_dataset(None, synthetic_root=work / "data", synthetic_images=d.images, synthetic_size=d.size,
                    val_fraction=d.val_fraction, seed=d.seed)
    drawn = draw_configs(spec, configs)
    # Seeds inside configs: a recording stopped half-way holds both seeds of the configs it has.
    jobs = [(c, s) for c in range(configs) for s in range(seeds) if not run_file(work, c, s).is_file()]
    done = configs * seeds - len(jobs)
    print(f"recording {configs} configs x {seeds} seeds of {space}: {done} runs recorded in {work}, "
          f"{len(jobs)} to train, {workers} at a time (worker logs: {work / 'logs'})", flush=True)
    started = time.perf_counter()
    import multiprocessing as mp

    os.environ["OMP_NUM_THREADS"] = "1"
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                             initargs=(str(work / "logs"),)) as pool:
        pending: dict[Future[dict[str, Any]], tuple[int, int]] = {}
        queue = list(jobs)
        while queue or pending:
            while queue and len(pending) < workers:
                c, s = queue.pop(0)
                pending[pool.submit(train_run, space, str(work / "data"), c, drawn[c], s)] = (c, s)
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                c, s = pending.pop(future)
                try:
                    run = future.result()
                except Exception as exc:  # one run's failure is reported; the recording goes on
                    print(f"c{c:03d} s{s}: failed ({type(exc).__name__}: {exc}); a later run retries it", flush=True)
                    continue
                path = run_file(work, c, s)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(run))
                tmp.replace(path)  # atomic: a stopped recording never leaves half a run
                done += 1
                elapsed = time.perf_counter() - started
                trained = done - (configs * seeds - len(jobs))
                eta = elapsed / trained * (configs * seeds - done)
                values = [r["metrics"].get(spec.experiment.metric, math.nan) for r in run["reports"]]
                last = f"{values[-1]:.4f}" if values else "-"
                print(f"[{_clock(elapsed)}] {done}/{configs * seeds}  c{c:03d} s{s}: {len(values)} reports, "
                      f"last {last}{' DIVERGED' if run['diverged'] else ''}, {run['wall_s']:.0f} s;  "
                      f"eta {_clock(eta)}", flush=True)
    return [json.loads(p.read_text()) for p in sorted((work / "runs").glob("c*_s*.json"))]


def table_text(runs: Sequence[dict[str, Any]], params: Sequence[str], header: dict[str, str]) -> str:
    """The CSV text of the table (module docstring): ``#`` header lines, then one row per report.

    A run that diverged gets one more row after its last report, as a trial makes one more report then
    (``fashion_core.trainable``): ``diverged`` 1, the iteration it diverged at, its seconds, no metrics.
    """
    import pandas as pd

    rows = []
    for run in sorted(runs, key=lambda r: (r["config_id"], r["seed"])):
        base: dict[str, Any] = {"config_id": run["config_id"], "seed": run["seed"]}
        base.update({f"param.{name}": run["params"].get(name) for name in params})
        for rep in run["reports"]:
            rows.append({**base, "report": rep["report"], "iterations": rep["iterations"],
                         "seconds": rep["seconds"], "diverged": 0, **rep["metrics"]})
        if run["diverged"]:
            match = re.search(r"iteration=(\d+)", run["diverged"])
            last = run["reports"][-1]["iterations"] if run["reports"] else 0
            rows.append({**base, "report": len(run["reports"]) + 1,
                         "iterations": int(match.group(1)) if match else last, "seconds": run["wall_s"], "diverged": 1})
    frame = pd.DataFrame(rows)
    fixed = [*KEY_COLUMNS, *(f"param.{n}" for n in params), "diverged"]
    frame = frame[fixed + sorted(c for c in frame.columns if c not in fixed)]
    buffer = io.StringIO()
    for key, value in header.items():
        buffer.write(f"# {key}: {value}\n")
    # Six significant digits: the metrics are means over a few images, the seconds are wall clock.
    frame.to_csv(buffer, index=False, float_format="%.6g")
    return buffer.getvalue()


def write_table(path: Path, text: str) -> None:
    """gzip with a fixed mtime: the same runs give the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(text.encode())


def header(space: str, runs: Sequence[dict[str, Any]], work: Path) -> dict[str, str]:
    """What the table's ``#`` lines say: how and where it was recorded (``work``'s :data:`RECORDING`), and the
    space's params."""
    from search.space import SpaceError, read_yaml

    raw = read_yaml(Path(space), "space file", SpaceError)
    noted = json.loads((work / RECORDING).read_text()) if (work / RECORDING).is_file() else {}
    import torch

    return {
        "table": "fashion-tune learning curves (bench/record_curves.py; read by python -m search.replay)",
        "command": noted.get("command", "python bench/record_curves.py"),
        "commit": noted.get("commit", _commit()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
                   f"Python {platform.python_version()}, torch {torch.__version__}, 1 thread per run",
        "recorded": f"{noted.get('started', '?')} to {_last_run_date(work)}",
        "space": str(Path(space).resolve().relative_to(REPO)) if Path(space).resolve().is_relative_to(REPO)
        else str(space),
        "runs": f"{len(runs)} ({len({r['config_id'] for r in runs})} configs)",
        "metric": str(raw["experiment"]["metric"]),
        "mode": str(raw["experiment"].get("mode", "max")),
        "iters_per_report": str(raw["train"]["iters_per_report"]),
        "seconds": "wall clock since the run started, one CPU thread per run, 2 runs at once; other processes on "
                   "the machine change it, so compare methods by iterations first",
        # In file order: a conditional parameter names parameters above it.
        "params": json.dumps(raw["params"]),
    }


def _last_run_date(work: Path) -> str:
    times = [p.stat().st_mtime for p in (work / "runs").glob("c*_s*.json")]
    return dt.datetime.fromtimestamp(max(times), dt.UTC).strftime("%Y-%m-%d") if times else "?"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default=str(DEFAULT_SPACE), help=f"space to draw from (default {DEFAULT_SPACE})")
    parser.add_argument("--configs", type=int, default=100, help="configs drawn (default 100)")
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per config, 0 .. N-1 (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="runs at once, one CPU thread each (default 2)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help=f"folder of the recorded runs; a second call resumes there (default {DEFAULT_WORK})")
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE,
                        help=f"the table written (default {DEFAULT_TABLE})")
    parser.add_argument("--assemble", action="store_true", help="train nothing: write the table from --work's runs")
    args = parser.parse_args(argv)
    if min(args.configs, args.seeds, args.workers) < 1:
        parser.error("--configs, --seeds and --workers must be >= 1")
    if args.assemble:
        runs = [json.loads(p.read_text()) for p in sorted((args.work / "runs").glob("c*_s*.json"))]
    else:
        runs = record(args.space, args.configs, args.seeds, args.workers, args.work, argv)
    if not runs:
        print(f"error: no recorded runs in {args.work / 'runs'}", file=sys.stderr)
        return 2
    from search.space import load_space

    params = [p.name for p in load_space(args.space).params]
    write_table(args.table, table_text(runs, params, header(args.space, runs, args.work)))
    size = args.table.stat().st_size
    print(f"table: {args.table} ({len(runs)} runs, {sum(len(r['reports']) for r in runs)} reports, "
          f"{size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
