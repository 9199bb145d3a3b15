"""Reading a space file: YAML (safe loader only) -> a validated :class:`~search.space.spec.SearchSpec`.

Everything is checked before Ray starts: an unknown key, a low above its high, an unknown
distribution or a bad resource request fails with a :class:`SpaceError` naming the file and key.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, NoReturn

from fashion_core.safe_yaml import read_yaml
from search.space.spec import (
    DISTRIBUTIONS,
    MAX_CHOICES,
    SAMPLERS,
    SCHEDULERS,
    Asha,
    Confirm,
    Data,
    Experiment,
    Objective,
    Param,
    Resources,
    Searcher,
    SearchSpec,
    Thresholds,
    Train,
    ValueResources,
)

__all__ = ["POSTHOC_KEYS", "SpaceError", "load_space", "parse_space", "read_yaml"]


class SpaceError(ValueError):
    """A space file is invalid; the message names the file and the key."""


def load_space(path: str | Path) -> SearchSpec:
    """Read and validate a space file (YAML, safe loader only)."""
    return parse_space(read_yaml(path, "space file", SpaceError), source=str(path))


def parse_space(raw: Any, source: str = "<dict>") -> SearchSpec:
    """Validate an already-loaded space mapping; ``source`` names it in errors."""
    r = _Reader(source)
    top = r.mapping(raw, "", {"experiment", "train", "data", "params"})
    experiment = _experiment(r, top.get("experiment", {}))
    train = _train(r, top.get("train", {}))
    data = _data(r, top.get("data", {}))
    params = _params(r, top.get("params", {}))
    if experiment.thresholds.mode == "posthoc":
        for p in params:
            if p.key in POSTHOC_KEYS:
                r.fail(f"params.{p.name}", f"sets {p.key}, which thresholds.mode 'posthoc' chooses after training")
    return SearchSpec(experiment, train, data, params, source)


# Config keys the post-hoc threshold search owns (they must not also be sampled).
POSTHOC_KEYS = ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "MODEL.ROI_ATTRIBUTE_HEAD.SCORE_THRESH")


class _Reader:
    """Typed access to nested YAML values, failing with ``file: key.path: problem``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> NoReturn:
        raise SpaceError(f"{self.source}: {key or '<top level>'}: {problem}")

    def mapping(self, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"expected a mapping, got {type(value).__name__}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            where = f"{key}.{unknown[0]}" if key else str(unknown[0])
            self.fail(where, f"unknown key; expected one of {sorted(allowed)}")
        return value

    def number(self, value: Any, key: str, *, integer: bool = False, minimum: float | None = None) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (integer and not float(value).is_integer()):
            self.fail(key, f"expected {'an integer' if integer else 'a number'}, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(key, f"must be >= {minimum}, got {value!r}")
        return value

    def choice(self, value: Any, key: str, options: tuple[str, ...]) -> str:
        if value not in options:
            self.fail(key, f"expected one of {list(options)}, got {value!r}")
        return value


def _experiment(r: _Reader, raw: Any) -> Experiment:
    keys = {
        "name", "metric", "mode", "num_samples", "max_concurrent", "seed", "asha", "resources",
        "thresholds", "max_failures", "keep_checkpoints", "confirm", "storage", "objectives", "searcher",
        "scheduler",
    }
    e = r.mapping(raw, "experiment", keys)
    d = Experiment()
    asha_raw = r.mapping(e.get("asha"), "experiment.asha", {"max_t", "grace_period", "reduction_factor", "brackets"})
    asha = Asha(
        max_t=int(r.number(asha_raw.get("max_t", d.asha.max_t), "experiment.asha.max_t", integer=True, minimum=1)),
        grace_period=int(
            r.number(asha_raw.get("grace_period", d.asha.grace_period), "experiment.asha.grace_period",
                     integer=True, minimum=1)
        ),
        reduction_factor=float(
            r.number(asha_raw.get("reduction_factor", d.asha.reduction_factor), "experiment.asha.reduction_factor",
                     minimum=1.01)
        ),
        brackets=int(r.number(asha_raw.get("brackets", d.asha.brackets), "experiment.asha.brackets", integer=True,
                              minimum=1)),
    )
    if asha.grace_period > asha.max_t:
        r.fail("experiment.asha.grace_period", f"must be <= max_t ({asha.max_t}), got {asha.grace_period}")
    searcher = _searcher(r, e.get("searcher"), d.searcher)
    scheduler = r.choice(e.get("scheduler", d.scheduler), "experiment.scheduler", SCHEDULERS)
    res_raw = r.mapping(e.get("resources"), "experiment.resources", {"cpu", "gpu"})
    resources = Resources(
        cpu=_cpu(r, res_raw.get("cpu", d.resources.cpu), "experiment.resources.cpu"),
        gpu=_gpu(r, res_raw.get("gpu", d.resources.gpu), "experiment.resources.gpu"),
    )
    th_keys = {"mode", "score_grid", "attribute_grid"}
    th_raw = r.mapping(e.get("thresholds"), "experiment.thresholds", th_keys)
    thresholds = Thresholds(
        mode=r.choice(th_raw.get("mode", d.thresholds.mode), "experiment.thresholds.mode",
                      ("sampled", "posthoc")),  # type: ignore[arg-type]
        score_grid=_grid(r, th_raw.get("score_grid", d.thresholds.score_grid), "experiment.thresholds.score_grid"),
        attribute_grid=_grid(r, th_raw.get("attribute_grid", d.thresholds.attribute_grid),
                             "experiment.thresholds.attribute_grid"),
    )
    confirm_raw = r.mapping(e.get("confirm"), "experiment.confirm", {"top", "seeds"})
    confirm = Confirm(
        top=int(r.number(confirm_raw.get("top", d.confirm.top), "experiment.confirm.top", integer=True, minimum=0)),
        seeds=int(r.number(confirm_raw.get("seeds", d.confirm.seeds), "experiment.confirm.seeds", integer=True,
                           minimum=1)),
    )
    objectives = _objectives(r, e)
    metric, mode = (objectives[0].metric, objectives[0].mode) if objectives else _single_objective(r, e, d)
    name = str(e.get("name", d.name))
    if not name or "/" in name or name.startswith("."):
        r.fail("experiment.name", f"must be a plain folder name, got {name!r}")
    return Experiment(
        name=name,
        metric=metric,
        mode=mode,
        # One entry is the single form written as a list: nothing multi-objective about it.
        objectives=objectives if len(objectives) > 1 else (),
        num_samples=int(r.number(e.get("num_samples", d.num_samples), "experiment.num_samples", integer=True,
                                 minimum=1)),
        max_concurrent=int(r.number(e.get("max_concurrent", d.max_concurrent), "experiment.max_concurrent",
                                    integer=True, minimum=1)),
        seed=int(r.number(e.get("seed", d.seed), "experiment.seed", integer=True, minimum=0)),
        asha=asha,
        searcher=searcher,
        scheduler=scheduler,
        resources=resources,
        thresholds=thresholds,
        max_failures=int(r.number(e.get("max_failures", d.max_failures), "experiment.max_failures", integer=True,
                                  minimum=-1)),
        keep_checkpoints=int(r.number(e.get("keep_checkpoints", d.keep_checkpoints), "experiment.keep_checkpoints",
                                      integer=True, minimum=1)),
        confirm=confirm,
        storage=_storage_url(r, e.get("storage")),
    )


def _searcher(r: _Reader, raw: Any, d: Searcher) -> Searcher:
    keys = {"sampler", "startup_trials", "multivariate", "group", "constant_liar"}
    x = r.mapping(raw, "experiment.searcher", keys)
    flags = {}
    for key in ("multivariate", "group", "constant_liar"):
        value = x.get(key, getattr(d, key))
        if not isinstance(value, bool):
            r.fail(f"experiment.searcher.{key}", f"expected true or false, got {value!r}")
        flags[key] = value
    if flags["group"] and not flags["multivariate"]:
        r.fail("experiment.searcher.group", "needs multivariate: true (TPE groups the parameters it models jointly)")
    return Searcher(
        sampler=r.choice(x.get("sampler", d.sampler), "experiment.searcher.sampler", SAMPLERS),
        startup_trials=int(r.number(x.get("startup_trials", d.startup_trials), "experiment.searcher.startup_trials",
                                    integer=True, minimum=0)),
        **flags,
    )


MODES = ("max", "min")
# Points the single form's keys at the list form when they are given a list.
OBJECTIVES_HINT = "several objectives go under experiment.objectives: [{metric: ..., mode: max}, ...]"


def _single_objective(r: _Reader, e: dict[str, Any], d: Experiment) -> tuple[str, Literal["max", "min"]]:
    """``experiment.metric`` and ``experiment.mode``: one ranking metric and its direction."""
    metric, mode = e.get("metric", d.metric), e.get("mode", d.mode)
    if isinstance(metric, list | tuple):
        r.fail("experiment.metric", f"expected one metric name (a string), got a list {metric!r}; {OBJECTIVES_HINT}")
    if not isinstance(metric, str) or not metric:
        r.fail("experiment.metric", f"expected one metric name (a string), got {metric!r}")
    if isinstance(mode, list | tuple):
        r.fail("experiment.mode", f"expected one of {list(MODES)}, got a list {mode!r}; {OBJECTIVES_HINT}")
    return metric, r.choice(mode, "experiment.mode", MODES)  # type: ignore[return-value]


def _objectives(r: _Reader, e: dict[str, Any]) -> tuple[Objective, ...]:
    """``experiment.objectives``: a list of ``{metric, mode}``, the ranking one first; () when absent."""
    if "objectives" not in e:
        return ()
    given = [k for k in ("metric", "mode") if k in e]
    if given:
        r.fail(f"experiment.{given[0]}", "give either experiment.objectives or experiment.metric/mode, not both "
               "(the first objective is the ranking metric)")
    raw = e["objectives"]
    if not isinstance(raw, list | tuple) or not raw:
        r.fail("experiment.objectives", f"expected a non-empty list of {{metric: ..., mode: max or min}}, got {raw!r}")
    out: list[Objective] = []
    for i, entry in enumerate(raw):
        key = f"experiment.objectives[{i}]"
        o = r.mapping(entry, key, {"metric", "mode"})
        for field_name in ("metric", "mode"):
            if field_name not in o:
                r.fail(f"{key}.{field_name}", "missing: " + ("a reported metric name" if field_name == "metric"
                                                             else f"one of {list(MODES)}"))
        metric = o["metric"]
        if not isinstance(metric, str) or not metric:
            r.fail(f"{key}.metric", f"expected one metric name (a string), got {metric!r}")
        if any(metric == earlier.metric for earlier in out):
            r.fail(f"{key}.metric", f"{metric!r} is already an objective")
        out.append(Objective(metric, r.choice(o["mode"], f"{key}.mode", MODES)))  # type: ignore[arg-type]
    return tuple(out)


def _storage_url(r: _Reader, raw: Any) -> str | None:
    """An SQLAlchemy URL for the Optuna study (``sqlite:///...``, ``postgresql://...``) or None (default)."""
    if raw is None:
        return None
    if not isinstance(raw, str) or "://" not in raw:
        r.fail("experiment.storage", f"expected an SQLAlchemy URL like sqlite:///study.db, got {raw!r}")
    return raw


def _cpu(r: _Reader, raw: Any, key: str) -> float:
    return float(r.number(raw, key, minimum=0.01))


def _gpu(r: _Reader, raw: Any, key: str) -> float:
    gpu = float(r.number(raw, key, minimum=0))
    # Ray only packs fractions of a single GPU; above one a trial needs whole GPUs.
    if gpu > 1 and not gpu.is_integer():
        r.fail(key, f"a trial takes a fraction of one GPU or whole GPUs, got {gpu}")
    return gpu


def _grid(r: _Reader, raw: Any, key: str) -> tuple[float, ...]:
    if not isinstance(raw, list | tuple) or not raw:
        r.fail(key, f"expected a non-empty list of numbers in [0, 1], got {raw!r}")
    values = tuple(float(r.number(v, f"{key}[{i}]", minimum=0)) for i, v in enumerate(raw))
    if any(v > 1 for v in values):
        r.fail(key, f"thresholds are probabilities in [0, 1], got {list(values)}")
    return values


def _train(r: _Reader, raw: Any) -> Train:
    t = r.mapping(raw, "train", {"config", "iters_per_report", "opts"})
    d = Train()
    opts = r.mapping(t.get("opts"), "train.opts", set(t.get("opts") or {}))
    for key in opts:
        if not isinstance(key, str) or not key.replace("_", "").replace(".", "").isalnum() or key != key.upper():
            r.fail(f"train.opts.{key}", "expected an UPPER_CASE detectron2 config key like SOLVER.BASE_LR")
    return Train(
        config=str(t.get("config", d.config)),
        iters_per_report=int(r.number(t.get("iters_per_report", d.iters_per_report), "train.iters_per_report",
                                      integer=True, minimum=1)),
        opts=tuple(opts.items()),
    )


def _data(r: _Reader, raw: Any) -> Data:
    keys = {"format", "path", "images", "size", "val_fraction", "max_images", "seed"}
    x = r.mapping(raw, "data", keys)
    d = Data()
    fmt = r.choice(x.get("format", d.format), "data.format", ("synthetic", "kaggle", "fashionpedia"))
    path = x.get("path")
    if fmt != "synthetic" and not path:
        r.fail("data.path", f"format {fmt!r} needs a path (or pass --data)")
    val_fraction = float(r.number(x.get("val_fraction", d.val_fraction), "data.val_fraction", minimum=0))
    if not 0 < val_fraction < 1:
        r.fail("data.val_fraction", f"must be in (0, 1), got {val_fraction}")
    max_images = x.get("max_images")
    return Data(
        format=fmt,  # type: ignore[arg-type]
        path=str(path) if path else None,
        images=int(r.number(x.get("images", d.images), "data.images", integer=True, minimum=2)),
        size=int(r.number(x.get("size", d.size), "data.size", integer=True, minimum=32)),
        val_fraction=val_fraction,
        max_images=None if max_images is None else int(r.number(max_images, "data.max_images", integer=True,
                                                                minimum=2)),
        seed=int(r.number(x.get("seed", d.seed), "data.seed", integer=True, minimum=0)),
    )


def _params(r: _Reader, raw: Any) -> tuple[Param, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        r.fail("params", f"expected a mapping of parameter name to its distribution, got {type(raw).__name__}")
    params: list[Param] = []
    for name, spec in raw.items():
        key = f"params.{name}"
        if name == "seed":
            r.fail(key, "'seed' is reserved (a trial's seed: experiment.seed, and the confirmation stage's seeds)")
        s = r.mapping(spec, key, {"key", "type", "values", "low", "high", "log", "when", "resources"})
        if "key" not in s:
            r.fail(f"{key}.key", "missing: the detectron2 config key this parameter sets (or CONFIG)")
        if "type" not in s:
            r.fail(f"{key}.type", f"missing: one of {list(DISTRIBUTIONS)}")
        dist = r.choice(s["type"], f"{key}.type", DISTRIBUTIONS)
        when = _when(r, s.get("when"), key, params)
        if dist == "choice":
            values = s.get("values")
            if not isinstance(values, list) or not values:
                r.fail(f"{key}.values", f"a choice needs a non-empty list of values, got {values!r}")
            if len(values) > MAX_CHOICES:
                r.fail(f"{key}.values", f"{len(values)} values; a choice may list at most {MAX_CHOICES}")
            for extra in ("low", "high", "log"):
                if extra in s:
                    r.fail(f"{key}.{extra}", "not used by a choice (use values)")
            resources = _value_resources(r, s.get("resources"), f"{key}.resources", values, params)
            params.append(Param(name, str(s["key"]), "choice", values=tuple(values), when=when, resources=resources))
            continue
        if "resources" in s:
            r.fail(f"{key}.resources", f"only a choice's values can have their own resources, not a {dist}'s")
        if "values" in s:
            r.fail(f"{key}.values", f"not used by {dist} (use low and high)")
        for bound in ("low", "high"):
            if bound not in s:
                r.fail(f"{key}.{bound}", f"missing: {dist} needs low and high")
        low = r.number(s["low"], f"{key}.low", integer=dist == "int")
        high = r.number(s["high"], f"{key}.high", integer=dist == "int")
        if low > high:
            r.fail(f"{key}.low", f"must be <= high, got low={low} > high={high}")
        if dist == "loguniform" and low <= 0:
            r.fail(f"{key}.low", f"loguniform needs low > 0, got {low}")
        log = bool(s.get("log", dist == "loguniform"))
        if dist == "int" and log and low <= 0:
            r.fail(f"{key}.low", f"a log-scaled int needs low > 0, got {low}")
        params.append(Param(name, str(s["key"]), dist, low=low, high=high, log=log, when=when))  # type: ignore[arg-type]
    keys = [p.key for p in params if not p.when]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        r.fail("params", f"config key {dup[0]} is set by more than one unconditional parameter")
    return tuple(params)


def _value_resources(
    r: _Reader, raw: Any, key: str, values: list[Any], earlier: list[Param]
) -> tuple[ValueResources, ...]:
    """``{value: {cpu, gpu}}`` for some values of a choice; one parameter per space at most, so a
    trial's resources follow from a single sampled value (no rule to combine two is needed)."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        r.fail(key, f"expected a mapping {{value: {{cpu: ..., gpu: ...}}}}, got {raw!r}")
    other = next((p.name for p in earlier if p.resources), None)
    if other is not None:
        r.fail(key, f"only one parameter may give its values resources, and params.{other} already does")
    out = []
    for value, entry in raw.items():
        where = f"{key}.{value}"
        # Types too (YAML's 1 == true == 1.0): a trial only gets the entry of the value it drew.
        if not any(value == v and type(value) is type(v) for v in values):
            r.fail(where, f"{value!r} is not among the parameter's values {values}")
        e = r.mapping(entry, where, {"cpu", "gpu"})
        if not e:
            r.fail(where, "expected cpu and/or gpu, e.g. {gpu: 1, cpu: 6}")
        out.append(ValueResources(
            value,
            cpu=_cpu(r, e["cpu"], f"{where}.cpu") if "cpu" in e else None,
            gpu=_gpu(r, e["gpu"], f"{where}.gpu") if "gpu" in e else None,
        ))
    return tuple(out)


def _when(r: _Reader, raw: Any, key: str, earlier: list[Param]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """Conditions may only refer to choice parameters defined above (so sampling order is simple)."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        r.fail(f"{key}.when", f"expected a mapping {{parameter: [values]}}, got {raw!r}")
    by_name = {p.name: p for p in earlier}
    conditions = []
    for name, allowed in raw.items():
        parent = by_name.get(name)
        if parent is None or parent.distribution != "choice":
            r.fail(f"{key}.when.{name}", "must name a choice parameter defined above this one")
        allowed_t = tuple(allowed) if isinstance(allowed, list) else (allowed,)
        bad = [v for v in allowed_t if v not in parent.values]
        if bad:
            r.fail(f"{key}.when.{name}", f"{bad[0]!r} is not among {name}'s values {list(parent.values)}")
        conditions.append((name, allowed_t))
    return tuple(conditions)
