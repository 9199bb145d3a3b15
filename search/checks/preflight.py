"""The checks of a search that need the model's configs and the evaluator, run in the driver before Ray starts.

:mod:`search.space` checks a space file on its own (types, ranges, names). What only the model can say is
checked here, in a few seconds, so that a mistake costs one line instead of a failed trial after the first
evaluation (or a silently ignored setting):

* every base config the space can select (``train.config``, or the values of a parameter with key
  ``CONFIG``) is read (a file that is not YAML data, has a ``!!python`` tag or a missing ``_BASE_`` fails
  here, not on every worker) and built once, as a trial builds it (:func:`fashion_core.engine.setup.build_config`), and
  every ``train.opts`` key and ``params.*.key`` exists in it; every value a parameter can take is applied
  on top (a value of the wrong type, or one the attribute config refuses, fails here);
* keys the runner sets itself (seed, iterations, evaluation period, output folder, datasets, device,
  threshold sweep) are refused with the space option that controls them;
* the ranking metric (every objective of ``experiment.objectives``) is a key the evaluator reports for this
  space (``thresholds/*`` only with ``experiment.thresholds.mode: posthoc``), with the closest valid names;
* ``data.format`` agrees with ``data.path``.

Each problem is a :class:`search.space.SpaceError`: one line ``file: key: problem (expected ...)``.
"""

from __future__ import annotations

import difflib
import re
import tempfile
from collections.abc import Iterator
from typing import Any, NoReturn

from fashion_core.engine.trial_setup import CONFIG_KEY
from search.space import Param, SearchSpec, SpaceError, trial_setup

__all__ = ["RUNNER_KEYS", "base_configs", "check_config_keys", "check_data", "check_metric", "preflight"]

# Config keys (or subtrees) the runner sets for every trial, and the option to use instead. A space that set
# them would fail in every trial (SEED), or be overwritten without a word (SOLVER.MAX_ITER).
RUNNER_KEYS: dict[str, str] = {
    "SEED": "experiment.seed; the confirmation stage adds seeds of its own",
    "SOLVER.MAX_ITER": "experiment.asha.max_t and train.iters_per_report; MAX_ITER = max_t x iters_per_report",
    "TEST.EVAL_PERIOD": "train.iters_per_report",
    "OUTPUT_DIR": "--storage-path and --name; every trial writes into its own folder",
    "DATASETS": "the data section or --data",
    "MODEL.DEVICE": "experiment.resources.gpu; a trial trains on the GPU it is given, else on the CPU",
    "TEST.THRESHOLD_SWEEP": "experiment.thresholds: mode posthoc, score_grid, attribute_grid",
}

# What a report carries besides the evaluation: the training figures of
# fashion_core.engine.hooks.EvaluateAndReport._training_figures (loss names come from the model).
TRAINING_FIGURES = re.compile(r"train/(total_loss|lr|loss_\w+)|time/(iter_s|train_s|eval_s|run_s)")
TRAINING_FIGURES_TEXT = "train/total_loss, train/lr, train/loss_<name>, time/iter_s, time/train_s, time/eval_s"


def preflight(spec: SearchSpec, *, data_override: str | None = None) -> None:
    """Raise :class:`SpaceError` (one line naming the space file and key) on the first problem found.

    Args:
        spec: the validated space (with command-line overrides applied).
        data_override: ``--data``, which replaces the space's data section (its format follows its path).
    """
    check_metric(spec)
    check_data(spec, data_override)
    check_config_keys(spec)


def _fail(spec: SearchSpec, key: str, problem: str) -> NoReturn:
    # One line, whatever the underlying library put into its message.
    raise SpaceError(" ".join(f"{spec.source}: {key}: {problem}".split()))


# --- the ranking metric ------------------------------------------------------------------------------------


def reportable_metrics(spec: SearchSpec) -> list[str]:
    """The evaluation keys a trial of ``spec`` reports, as the evaluator lists them, and the figures of the
    evaluation itself (inference time per image, parameter count)."""
    from fashion_core.engine.evaluation_figures import EVALUATION_FIGURES
    from fashion_core.evaluation.reported import reported_keys

    return [*reported_keys(sweep=spec.experiment.thresholds.mode == "posthoc"), *EVALUATION_FIGURES]


def check_metric(spec: SearchSpec) -> None:
    """``experiment.metric`` (or every entry of ``experiment.objectives``) must be a key every report carries."""
    e = spec.experiment
    if not e.objectives:
        _check_metric(spec, e.metric, "experiment.metric")
    for i, objective in enumerate(e.objectives):
        _check_metric(spec, objective.metric, f"experiment.objectives[{i}].metric")


def _check_metric(spec: SearchSpec, metric: str, where: str) -> None:
    valid = reportable_metrics(spec)
    if metric in valid or TRAINING_FIGURES.fullmatch(metric):
        return
    if metric.startswith("thresholds/") and spec.experiment.thresholds.mode != "posthoc":
        from fashion_core.evaluation.reported import reported_keys

        if metric in reported_keys(sweep=True):
            _fail(spec, where, f"{metric!r} is reported only by the post-hoc threshold search "
                  "(expected experiment.thresholds.mode: posthoc, or a segm/* or bbox/* metric such as "
                  "segm/AP_iou_f1)")
    by_lower = {k.lower(): k for k in valid}
    close = [by_lower[k] for k in difflib.get_close_matches(metric.lower(), list(by_lower), n=2, cutoff=0.75)]
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    _fail(spec, where, f"{metric!r} is not a reported metric ({hint}expected one of "
          f"{_metric_list(valid)}; or {TRAINING_FIGURES_TEXT})")


def _metric_list(keys: list[str]) -> str:
    """``segm/<m> or bbox/<m> with <m> in [...]; thresholds/<m> with <m> in [...]``: the valid keys, compactly."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        prefix, name = key.split("/", 1)
        groups.setdefault(prefix, []).append(name)
    parts: list[tuple[list[str], list[str]]] = []
    for prefix, names in groups.items():
        same = next((p for p in parts if p[1] == names), None)
        if same:
            same[0].append(prefix)
        else:
            parts.append(([prefix], names))
    return "; ".join(f"{' or '.join(p + '/<m>' for p in prefixes)} with <m> in [{', '.join(names)}]"
                     for prefixes, names in parts)


# --- the data section --------------------------------------------------------------------------------------


def check_data(spec: SearchSpec, data_override: str | None) -> None:
    """``data.format`` names the format of ``data.path`` (``--data`` replaces both, so nothing to compare)."""
    from fashion_core.engine.datasets import dataset_format

    d = spec.data
    if data_override or d.path is None:
        return
    found = dataset_format(d.path)
    if d.format == "synthetic":
        _fail(spec, "data.path", f"format 'synthetic' generates its images and reads no path (expected "
              f"data.format: {found} for {d.path}, or no data.path)")
    if d.format != found:
        _fail(spec, "data.format", f"{d.format!r} does not match data.path {d.path} (expected {found!r}: a .json "
              "file is Fashionpedia, a folder or CSV is Kaggle)")


# --- config keys -------------------------------------------------------------------------------------------


def check_config_keys(spec: SearchSpec) -> None:
    """Build every base config as a trial would, and every parameter value on top of it."""
    _check_runner_keys(spec)
    for config, where in base_configs(spec):
        _check_base(spec, config, where)


def _check_runner_keys(spec: SearchSpec) -> None:
    keys = [(f"train.opts.{k}", k) for k, _ in spec.train.opts]
    keys += [(f"params.{p.name}.key", p.key) for p in spec.params if p.key != CONFIG_KEY]
    for where, key in keys:
        for owned, instead in RUNNER_KEYS.items():
            if key == owned or key.startswith(owned + "."):
                _fail(spec, where, f"{key} is set by the search in every trial (expected: {instead})")


def base_configs(spec: SearchSpec) -> list[tuple[str, str]]:
    """``(config, where it comes from)`` for every base config a trial of ``spec`` can start from."""
    choosers = [p for p in spec.params if p.key == CONFIG_KEY]
    configs = [] if any(not p.when for p in choosers) else [(spec.train.config, "train.config")]
    for p in choosers:
        configs += [(str(v), f"params.{p.name}.values[{i}]") for i, v in enumerate(p.values)]
    return list(dict.fromkeys(configs))


def _check_base(spec: SearchSpec, config: str, where: str) -> None:
    from fashion_core.engine.setup import resolve_config
    from fashion_core.modeling import build_attribute_cfg

    try:
        defaults = build_attribute_cfg(resolve_config(config))
    except (FileNotFoundError, ValueError) as exc:
        _fail(spec, where, f"config {config!r} cannot be read: {exc}")
    known = list(_flat_keys(defaults))
    for key, _ in spec.train.opts:
        _check_exists(spec, f"train.opts.{key}", key, config, known)
    params = [p for p in spec.params if p.key != CONFIG_KEY and _applies(spec, p, config)]
    for p in params:
        _check_exists(spec, f"params.{p.name}.key", p.key, config, known)
    setup = trial_setup(spec, None, config=config)  # what every trial starts from, with this base config
    chooser = next((p.name for p in spec.params if p.key == CONFIG_KEY), None)
    pick = {chooser: config} if chooser else {}
    _build(spec, setup, pick, "train.opts", config)
    for p in params:
        for field, value in _values(p):
            _build(spec, setup, {**pick, p.name: value}, f"params.{p.name}.{field}", config)


def _applies(spec: SearchSpec, p: Param, config: str) -> bool:
    """Whether ``p`` can be sampled together with base config ``config`` (its ``when`` may name the chooser)."""
    choosers = {q.name for q in spec.params if q.key == CONFIG_KEY}
    return all(config in [str(v) for v in allowed] for name, allowed in p.when if name in choosers)


def _values(p: Param) -> list[tuple[str, Any]]:
    """The values that stand for ``p``'s range: every choice, or both bounds."""
    if p.distribution == "choice":
        return [(f"values[{i}]", v) for i, v in enumerate(p.values)]
    cast = int if p.distribution == "int" else float
    return [("low", cast(p.low)), ("high", cast(p.high))]


def _build(spec: SearchSpec, setup: Any, sampled: dict[str, Any], where: str, config: str) -> None:
    """Build one trial's config exactly as the trial will; any refusal becomes a one-line error at ``where``."""
    from fashion_core.engine.setup import ConfigMismatchError, build_config

    base, overrides = setup.overrides(sampled)
    with tempfile.TemporaryDirectory(prefix="fashion-tune-preflight-") as out:
        try:
            build_config(base, overrides, output_dir=out, train_dataset="preflight_train",
                         test_dataset="preflight_val", seed=setup.seed)
        except (ValueError, TypeError, KeyError, AssertionError, ConfigMismatchError) as exc:
            value = f"{sampled[where.split('.')[1]]!r} " if where.startswith("params.") else ""
            _fail(spec, where, f"{value}is refused by config {config!r}: {exc}")


def _check_exists(spec: SearchSpec, where: str, key: str, config: str, known: list[str]) -> None:
    if key in known:
        return
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
    hint = f"did you mean {close[0]}?" if close else "a typo, or a key of another detectron2 version?"
    _fail(spec, where, f"unknown config key {key} in config {config!r} ({hint})")


def _flat_keys(node: Any, prefix: str = "") -> Iterator[str]:
    """Every leaf key of a CfgNode, dotted (``SOLVER.BASE_LR``)."""
    from detectron2.config import CfgNode

    for name, value in node.items():
        key = f"{prefix}{name}"
        if isinstance(value, CfgNode):
            yield from _flat_keys(value, key + ".")
        else:
            yield key

