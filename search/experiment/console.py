"""What a search prints: Tune's trial table with the ranking metric and the searched parameters, and one
line per trial event. Everything else (detectron2's model printouts and logs, Tune's per-trial result
dumps and repeated warnings) stays out of the console; ``--verbose`` brings it back.

Where the rest goes: each trial's detectron2 log is ``<trial>/train/log.txt``
(:mod:`fashion_core.engine.logs`); worker output stays in Ray's session logs; metrics are in
``results.csv``, ``<trial>/result.json`` and TensorBoard.

Tune's table is Tune's own ``CLIReporter`` (its classic output engine, the one that takes a reporter),
given the columns and told when to print; the event lines are a Tune ``Callback``, because no Tune
reporter prints one short line per event.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from typing import Any

from ray.tune import Callback, CLIReporter

from search.space import SearchSpec

__all__ = ["TrialEvents", "TrialNamer", "TrialTable", "configure_console", "console_options"]

# The detail columns are cut to this many characters (Tune's default of 20 cuts "thresholds/AP_iou_f1").
COLUMN_WIDTH = 24
# Least seconds between two intermediate tables; one is printed only when a trial ended since the last one
# (the ranking changed). The event lines say everything else as it happens.
TABLE_INTERVAL_S = 180.0


def configure_console(verbose: bool) -> None:
    """Set up the driver's console before Ray and Tune start (environment variables they read then)."""
    if verbose:
        return
    # Tune's classic output engine: it prints a CLIReporter's table. (The default engine ignores a
    # reporter and prints a result table per trial and report.)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Keeping the best checkpoints (CheckpointConfig.num_to_keep) forces a state snapshot after each
    # report; Tune warns about that every few seconds, with three lines, although it is what we ask for.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Raised once per import of detectron2 by torch; nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    import optuna

    # "A new study created in memory": the study is Tune's, not the user's.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("ray.tune").setLevel(logging.WARNING)


def console_options(spec: SearchSpec, verbose: bool, stage: str) -> dict[str, Any]:
    """The ``tune.RunConfig`` fields that decide what a stage prints (``stage``: "search" or "confirm")."""
    events = TrialEvents(spec, stage)
    if verbose or os.environ.get("RAY_AIR_NEW_OUTPUT", "1") != "0":
        # Tune's default engine and output, as before (also where configure_console was not called: that
        # engine ignores a reporter, with a warning); the event lines still come.
        return {"verbose": 1, "callbacks": [events]}
    return {"verbose": 1, "progress_reporter": TrialTable(spec, events), "callbacks": [events]}


class TrialNamer:
    """Short trial names, the same for the trial's folder, Tune's table, TensorBoard, results.csv and plots:
    ``t007_a7e37be7`` (the 7th trial of the search, Tune's trial id), ``c002_...`` in the confirmation stage.

    A module-level class, not a lambda: Tune pickles it with the experiment (``--resume``).
    """

    def __init__(self, prefix: str = "t") -> None:
        self.prefix = prefix

    def __call__(self, trial: Any) -> str:
        # Tune's searcher tags trials "<counter>_<params>"; the counter numbers them in creation order.
        counter = str(getattr(trial, "experiment_tag", "") or "").split("_", 1)[0]
        number = int(counter) if counter.isdigit() else 0
        return f"{self.prefix}{number:03d}_{trial.trial_id}"


class TrialTable(CLIReporter):
    """Tune's trial table: name, status, reports, the ranking metric (every objective) and every searched parameter.

    A trial's metric is its value as the search ranks it everywhere (results.csv, the study, TensorBoard's
    HPARAMS): its best report so far (``events``' record of it), not its last one, which is what Tune's table
    shows by default. Printed when trials ended since the last table, at most every :data:`TABLE_INTERVAL_S`
    seconds, and at the end of the stage; without the scheduler's and resources' lines (the event lines say
    what happened).
    """

    def __init__(self, spec: SearchSpec, events: TrialEvents | None = None,
                 interval_s: float = TABLE_INTERVAL_S) -> None:
        e = spec.experiment
        self._events = events
        super().__init__(
            metric_columns={"training_iteration": "reports", **{o.metric: o.metric for o in e.all_objectives}},
            parameter_columns={p.name: p.name for p in spec.params},
            # metric and mode come from the TuneConfig (Tune refuses a reporter that has its own).
            max_column_length=COLUMN_WIDTH,
            max_report_frequency=int(interval_s),
            print_intermediate_tables=True,
            sort_by_metric=True,
        )
        self._interval_s = interval_s
        self._printed_at = time.monotonic()
        self._ended: frozenset[str] = frozenset()

    def should_report(self, trials: list[Any], done: bool = False) -> bool:
        ended = frozenset(t.trial_id for t in trials if t.status in ("TERMINATED", "ERROR"))
        if done:
            return True
        if ended == self._ended or time.monotonic() - self._printed_at < self._interval_s:
            return False
        self._printed_at = time.monotonic()
        return True

    def _current_best_trial(self, trials: list[Any]) -> tuple[Any, str | None]:
        # No "Current best trial" line: the table is sorted by the metric already, and Tune's line fails on a
        # conditional parameter that the best trial did not sample (KeyError in _best_trial_str).
        return None, self._metric

    def report(self, trials: list[Any], done: bool, *sys_info: str) -> None:
        self._ended = frozenset(t.trial_id for t in trials if t.status in ("TERMINATED", "ERROR"))
        # sys_info (the scheduler's bracket state, resource usage) is left out on purpose, and so is Tune's
        # "Result logdir" (its staging folder in Ray's session, not the experiment folder printed above).
        ranked = [_AtRankedReport(t, self._events.ranked_result(t)) if self._events else t for t in trials]
        text = self._progress_str(ranked, done)  # type: ignore[arg-type]  # read as Trials (duck typed)
        lines = [line for line in text.strip().splitlines() if not line.startswith("Result logdir:")]
        self._print("\n".join(lines) + "\n")


class _AtRankedReport:
    """A Tune trial as Tune's table code reads it, with the objectives of its ranked report in its last result."""

    def __init__(self, trial: Any, ranked: dict[str, Any]) -> None:
        self._trial = trial
        self.last_result = {**(trial.last_result or {}), **ranked}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)

    def __str__(self) -> str:
        return str(self._trial)


class TrialEvents(Callback):
    """One line per trial event: started (with its parameters), reported, stopped by ASHA, finished,
    diverged, failed (with the reason).

    ``[ 1m05s] t003_ab12cd34  reported 2/4  thresholds/AP_iou_f1=0.0123 (best 0.0150)``
    """

    def __init__(self, spec: SearchSpec, stage: str) -> None:
        self.metric = spec.experiment.metric
        self.mode = spec.experiment.mode
        self.max_reports = spec.experiment.asha.max_t
        self.param_names = [p.name for p in spec.params]
        self.stage = stage
        self.started_at = time.monotonic()
        self.objectives = [o.metric for o in spec.experiment.all_objectives]
        self.best: dict[str, float] = {}
        # The objectives at each trial's best report so far (the one the search ranks it by).
        self.ranked: dict[str, dict[str, Any]] = {}

    def setup(self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None,
              **info: Any) -> None:
        self.started_at = time.monotonic()

    def _say(self, trial: Any, text: str) -> None:
        elapsed = int(time.monotonic() - self.started_at)
        print(f"[{elapsed // 60:3d}m{elapsed % 60:02d}s] {trial}  {text}", flush=True)

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        config = trial.config or {}
        values = " ".join(f"{n}={_short(config[n])}" for n in self.param_names if n in config)
        seed = f" seed={config['seed']}" if "seed" in config else ""
        self._say(trial, f"started   {values}{seed}")

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any],
                        **info: Any) -> None:
        value = result.get(self.metric)
        if result.get("diverged"):
            return  # said by on_trial_complete, with the reason
        if isinstance(value, int | float) and math.isfinite(value):
            old = self.best.get(trial.trial_id)
            if old is None or (value > old if self.mode == "max" else value < old):
                self.best[trial.trial_id] = float(value)
                self.ranked[trial.trial_id] = {m: result.get(m) for m in self.objectives}
        reports = result.get("training_iteration", "?")
        self._say(trial, f"reported  {reports}/{self.max_reports}  {self.metric}={_short(value)} "
                  f"(best {_short(self.best.get(trial.trial_id))}, iteration {_short(result.get('iteration'))})")

    def ranked_result(self, trial: Any) -> dict[str, Any]:
        """The objectives at ``trial``'s best report: as recorded here, else (a trial restored by ``--resume``)
        the best value Tune's own per-trial metric analysis kept of the ranking metric; nothing before a report."""
        if trial.trial_id in self.ranked:
            return self.ranked[trial.trial_id]
        analysis = (getattr(trial, "metric_analysis", None) or {}).get(self.metric) or {}
        best = analysis.get(self.mode)
        return {self.metric: best} if isinstance(best, int | float) and math.isfinite(best) else {}

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        reports = int(last.get("training_iteration", 0) or 0)
        best = _short(self.best.get(trial.trial_id))
        if last.get("diverged"):
            self._say(trial, f"diverged  after {reports} report(s): {last.get('diverged_reason', 'non-finite loss')}")
        elif reports < self.max_reports and self.stage == "search":
            self._say(trial, f"stopped by ASHA after {reports}/{self.max_reports} reports  (best {best})")
        else:
            self._say(trial, f"finished  {reports}/{self.max_reports} reports  (best {best})")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._say(trial, f"FAILED    {_reason(trial)}  (log: {trial.path}/train/log.txt)")

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._say(trial, f"failed, retried from its last checkpoint: {_reason(trial)}")


def _reason(trial: Any) -> str:
    """The last line of the trial's error (Tune wraps the exception; the last line is the specific one)."""
    try:
        error = trial.get_error()
    except Exception:  # the error file may not be readable yet; the line must still come
        error = None
    lines = [line.strip() for line in str(error or "").splitlines() if line.strip()]
    text = lines[-1] if lines else "see error.txt in the trial folder"
    return text if len(text) <= 240 else text[:237] + "..."


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)
