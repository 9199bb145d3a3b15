"""TensorBoard that compares trials: one run per trial, named as everywhere else, and an HPARAMS table.

Layout of ``tensorboard --logdir <experiment>``:

* run ``t007_a7e37be7`` (``confirm/c001_...`` for the confirmation stage): the trial's own folder. detectron2's
  writer puts every scalar there once, against training iterations: losses and learning rate as it trains,
  each evaluation metric (``segm/*``, ``bbox/*``, ``thresholds/*``) at the iteration it was computed.
* HPARAMS: the experiment summary declares every searched parameter -- conditional ones included, with their
  domains -- plus the seed, and the metrics with the ranking metric first; each trial declares the values it
  used (an inactive conditional parameter is absent: an empty cell) and how it ended. The summary goes into the
  first trial's run (TensorBoard takes it from whichever run holds it): a file of its own in the experiment
  folder would show as one more run, named ".", without any scalar. TensorBoard shows a metric column's last
  value in the run, so the ranking metric's column is the scalar ``best/<metric>`` this class writes at every
  report: the trial's value as the search ranks it everywhere (its best report so far; results.csv, the study,
  the console's table), not its last report.

Why not Tune's own ``TBXLoggerCallback``: it writes every metric a second time (``ray/tune/<m>``, against
reports rather than iterations), and derives the HPARAMS columns from the first trial that ends, so a
conditional parameter that trial did not sample is missing from the table. This class replaces it (Tune adds
its own only when no callback of its type is given) and writes just the hparams data.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ray.tune.logger import TBXLoggerCallback

from search.space import Param, SearchSpec

__all__ = ["HparamsLogger", "hparams_metrics"]

PLUGIN = "hparams"
EXPERIMENT_TAG = "_hparams_/experiment"
SESSION_START_TAG = "_hparams_/session_start_info"
SESSION_END_TAG = "_hparams_/session_end_info"
# The seed column: the confirmation stage re-runs configs with other seeds.
SEED = "seed"
# The scalar of each objective at the trial's best report so far (the HPARAMS column of the ranking metric).
BEST_PREFIX = "best/"


def hparams_metrics(spec: SearchSpec) -> list[str]:
    """The HPARAMS metric columns: the ranking metric (every objective) first, then a few that explain it
    (TensorBoard scalar tags of the trial runs: evaluation keys as reported, detectron2's ``total_loss``)."""
    th = spec.experiment.thresholds.mode == "posthoc"
    extra = ["segm/AP_iou_f1", "bbox/AP_iou_f1", *(["thresholds/score", "thresholds/attribute"] if th else []),
             "total_loss"]
    return list(dict.fromkeys([*(BEST_PREFIX + o.metric for o in spec.experiment.all_objectives), *extra]))


class HparamsLogger(TBXLoggerCallback):
    """Writes the HPARAMS experiment summary (search stage) and each trial's session start and end."""

    def __init__(self, spec: SearchSpec, stage: str) -> None:
        super().__init__()
        self.params = spec.params
        self.seed = spec.experiment.seed
        self.metrics = hparams_metrics(spec)
        self.objectives = [o.metric for o in spec.experiment.all_objectives]
        self.mode = spec.experiment.mode
        self.stage = stage
        self._summary_written = False
        self._ranked: dict[str, dict[str, float]] = {}

    def log_trial_start(self, trial: Any) -> None:
        super().log_trial_start(trial)  # Tune's writer into the trial's folder
        if self.stage == "search" and not self._summary_written:
            self._add(trial, EXPERIMENT_TAG, _experiment(self.params, self.metrics))
            self._summary_written = True
        config = dict(trial.config or {})
        values: dict[str, Any] = {p.name: config[p.name] for p in self.params if p.name in config}
        values[SEED] = int(config.get(SEED, self.seed))
        self._add(trial, SESSION_START_TAG, _session_start(values, group=str(trial)))

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        """``best/<objective>`` at the trial's best report so far, at the report's training iteration (the other
        metrics are in the trial's run already, from detectron2's writer)."""
        if trial not in self._trial_writer or result.get("diverged"):
            return
        value = result.get(self.objectives[0])
        if not (isinstance(value, int | float) and math.isfinite(value)):
            return
        old = self._ranked.get(trial.trial_id) or self._restored(trial)
        if old is None or (value > old[self.objectives[0]] if self.mode == "max" else value < old[self.objectives[0]]):
            old = {m: float(result[m]) for m in self.objectives if isinstance(result.get(m), int | float)}
        self._ranked[trial.trial_id] = old
        writer = self._trial_writer[trial]
        step = int(result.get("iteration") or result.get("training_iteration") or 0)
        for metric, best in old.items():
            writer.add_scalar(BEST_PREFIX + metric, best, global_step=step)
        writer.flush()

    def _restored(self, trial: Any) -> dict[str, float] | None:
        """A trial restored by ``--resume``: the best value of the ranking metric Tune's metric analysis kept."""
        analysis = (getattr(trial, "metric_analysis", None) or {}).get(self.objectives[0]) or {}
        best = analysis.get(self.mode)
        return {self.objectives[0]: float(best)} if isinstance(best, int | float) and math.isfinite(best) else None

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        if trial not in self._trial_writer:
            return
        self._add(trial, SESSION_END_TAG, _session_end(failed))
        self._trial_writer.pop(trial).close()
        self._trial_result.pop(trial, None)

    def _add(self, trial: Any, tag: str, content: Any) -> None:
        writer = self._trial_writer[trial]
        writer.file_writer.add_summary(_summary(tag, content))
        writer.flush()


def _experiment(params: tuple[Param, ...], metrics: list[str]) -> Any:
    """The ``Experiment`` proto: every parameter with its domain, then the metrics in order."""
    from google.protobuf import struct_pb2
    from tensorboardX.proto.api_pb2 import DataType, Experiment, HParamInfo, Interval, MetricInfo, MetricName

    infos = []
    for p in params:
        info = HParamInfo(name=p.name, description=f"{p.key} ({p.distribution})")
        if p.distribution == "choice":
            kinds = {type(v) for v in p.values}
            if kinds == {bool}:
                info.type = DataType.Value("DATA_TYPE_BOOL")
            elif kinds <= {int, float}:
                info.type = DataType.Value("DATA_TYPE_FLOAT64")
            else:
                info.type = DataType.Value("DATA_TYPE_STRING")
            info.domain_discrete.CopyFrom(struct_pb2.ListValue(values=[_value(v) for v in p.values]))
        else:
            info.type = DataType.Value("DATA_TYPE_FLOAT64")
            info.domain_interval.CopyFrom(Interval(min_value=float(p.low), max_value=float(p.high)))
        infos.append(info)
    infos.append(HParamInfo(name=SEED, type=DataType.Value("DATA_TYPE_FLOAT64"), description="the trial's seed"))
    return Experiment(
        hparam_infos=infos,
        metric_infos=[MetricInfo(name=MetricName(tag=m), display_name=_display(m)) for m in metrics],
        time_created_secs=time.time(),
    )


def _display(tag: str) -> str:
    """``best/thresholds/AP_iou_f1`` -> ``thresholds/AP_iou_f1 (ranked: best report)``."""
    return f"{tag[len(BEST_PREFIX):]} (ranked: best report)" if tag.startswith(BEST_PREFIX) else tag


def _session_start(values: dict[str, Any], group: str) -> Any:
    from tensorboardX.proto.plugin_hparams_pb2 import SessionStartInfo

    info = SessionStartInfo(group_name=group, start_time_secs=time.time())
    for name, value in values.items():
        info.hparams[name].CopyFrom(_value(value))
    return info


def _session_end(failed: bool) -> Any:
    from tensorboardX.proto.api_pb2 import Status
    from tensorboardX.proto.plugin_hparams_pb2 import SessionEndInfo

    status = "STATUS_FAILURE" if failed else "STATUS_SUCCESS"
    return SessionEndInfo(status=Status.Value(status), end_time_secs=time.time())


def _value(value: Any) -> Any:
    """A YAML scalar as a protobuf ``Value`` (bools stay bools; ints are numbers, as TensorBoard shows them)."""
    from google.protobuf import struct_pb2

    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    if isinstance(value, int | float):
        return struct_pb2.Value(number_value=float(value))
    return struct_pb2.Value(string_value="" if value is None else str(value))


def _summary(tag: str, content: Any) -> Any:
    """A ``Summary`` carrying hparams plugin data (what tensorboardX's ``hparams()`` builds, with our protos)."""
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

    field = {EXPERIMENT_TAG: "experiment", SESSION_START_TAG: "session_start_info",
             SESSION_END_TAG: "session_end_info"}[tag]
    data = HParamsPluginData(version=0, **{field: content})
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=PLUGIN,
                                                                      content=data.SerializeToString()))
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata)])
