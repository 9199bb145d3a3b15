"""What a space file says, as frozen dataclasses (:class:`SearchSpec` and its sections); no I/O.

A space file has four sections (every key is documented in ``spaces/README.md``)::

    experiment:   what to optimize and how (metric or objectives, samples, concurrency, searcher, ASHA,
                  resources, thresholds)
    train:        the base detectron2 config and the fixed overrides every trial gets
    data:         which dataset (synthetic by default, or a Kaggle / Fashionpedia path)
    params:       the searched dimensions, each mapped to a detectron2 config key

:mod:`search.space.parse` reads and validates a file into these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Distribution = Literal["choice", "uniform", "loguniform", "int"]
DISTRIBUTIONS: tuple[str, ...] = ("choice", "uniform", "loguniform", "int")
# The most values a choice may list (spaces/README.md). TPE models each value; a real space lists a few.
MAX_CHOICES = 1000


@dataclass(frozen=True)
class Param:
    """One searched dimension.

    Attributes:
        name: the short name shown in tables and plots (e.g. ``lr``).
        key: the detectron2 config key it sets (e.g. ``SOLVER.BASE_LR``), or ``CONFIG`` for the base
            config file (e.g. to search over backbones).
        distribution: ``choice`` (``values``), ``uniform`` / ``loguniform`` (``low``, ``high``) or
            ``int`` (``low``, ``high`` inclusive, ``log`` optional).
        when: conditions on other (choice) parameters, ``{name: [allowed values]}``: the parameter
            is only sampled when every condition holds (e.g. focal alpha only when loss is focal).
        resources: per-trial resources of some of a choice's values (e.g. a whole GPU for the
            largest backbone); a trial that draws another value, or none, gets ``experiment.resources``.
    """

    name: str
    key: str
    distribution: Distribution
    values: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    resources: tuple[ValueResources, ...] = ()

    def active(self, sampled: dict[str, Any]) -> bool:
        """Whether every condition of ``when`` holds for the values sampled so far."""
        return all(name in sampled and sampled[name] in allowed for name, allowed in self.when)


@dataclass(frozen=True)
class Asha:
    """ASHA early stopping, in units of evaluation reports (``training_iteration``)."""

    max_t: int = 4
    grace_period: int = 1
    reduction_factor: float = 2.0
    # Ray's ASHA brackets: more than one is asynchronous Hyperband (each bracket stops at later rungs).
    brackets: int = 1


# The samplers a space may name: Optuna's TPE, and random search (its baseline).
SAMPLERS: tuple[str, ...] = ("tpe", "random")
# The schedulers: ASHA (experiment.asha), or FIFO (every trial runs asha.max_t reports).
SCHEDULERS: tuple[str, ...] = ("asha", "fifo")


@dataclass(frozen=True)
class Searcher:
    """How the study proposes configs (``experiment.searcher``): Optuna's sampler and TPE's settings.

    ``startup_trials``: TPE's random start-up trials before its model (Optuna's ``n_startup_trials``; they
    count finished trials of the whole study, all workers). ``multivariate`` models the parameters jointly;
    ``group`` splits a conditional space into the groups of parameters sampled together (it needs
    ``multivariate``); ``constant_liar`` counts running trials as bad, so concurrent workers spread out.
    """

    sampler: str = "tpe"
    startup_trials: int = 10
    multivariate: bool = True
    group: bool = False
    constant_liar: bool = True


@dataclass(frozen=True)
class Resources:
    """Resources per trial; fractions pack several trials onto one GPU."""

    cpu: float = 1.0
    gpu: float = 0.0


@dataclass(frozen=True)
class ValueResources:
    """What a trial that drew ``value`` asks for; a field left None is ``experiment.resources``'."""

    value: Any
    cpu: float | None = None
    gpu: float | None = None


@dataclass(frozen=True)
class Thresholds:
    """How the class-score and attribute thresholds are chosen.

    ``sampled``: they are ordinary ``params`` (retraining per value). ``posthoc``: every evaluation
    searches ``score_grid`` x ``attribute_grid`` on one inference pass and reports the best cell
    (``thresholds/AP_iou_f1``, ``thresholds/score``, ``thresholds/attribute``) and the best with one
    attribute threshold per class (``thresholds/per_class_AP_iou_f1``).
    """

    mode: Literal["sampled", "posthoc"] = "sampled"
    score_grid: tuple[float, ...] = (0.05, 0.3, 0.5, 0.7)
    attribute_grid: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7)


@dataclass(frozen=True)
class Confirm:
    """The confirmation stage: after the search, the ``top`` configs are trained again at the full budget
    (``asha.max_t`` reports, no early stopping) with ``seeds`` more seeds each (experiment seed + 1, + 2,
    ...), and the winner is the config with the best mean over its full-budget runs. ``top`` 0: off."""

    top: int = 3
    seeds: int = 2


@dataclass(frozen=True)
class Objective:
    """One objective of a multi-objective search: a reported metric and whether higher or lower is better."""

    metric: str
    mode: Literal["max", "min"]


@dataclass(frozen=True)
class Experiment:
    """The ``experiment`` section.

    ``metric`` / ``mode`` rank trials: ASHA stops on it, checkpoints are kept by it, the confirmation stage
    and the winner (``best/``) are chosen by it. ``objectives`` is set only by ``experiment.objectives`` with
    two or more entries (a multi-objective search: TPE models all of them, ``results.csv`` marks their Pareto
    front); ``metric`` / ``mode`` are then its first entry.
    """

    name: str = "fashion-search"
    metric: str = "segm/AP_iou_f1"
    mode: Literal["max", "min"] = "max"
    objectives: tuple[Objective, ...] = ()
    num_samples: int = 4
    max_concurrent: int = 2
    seed: int = 0
    asha: Asha = field(default_factory=Asha)
    searcher: Searcher = field(default_factory=Searcher)
    scheduler: str = "asha"
    resources: Resources = field(default_factory=Resources)
    thresholds: Thresholds = field(default_factory=Thresholds)
    max_failures: int = 0
    keep_checkpoints: int = 2
    confirm: Confirm = field(default_factory=Confirm)
    storage: str | None = None

    @property
    def all_objectives(self) -> tuple[Objective, ...]:
        """Every objective, the ranking one first (one for a single-objective search)."""
        return self.objectives or (Objective(self.metric, self.mode),)


@dataclass(frozen=True)
class Train:
    """The base config and the overrides every trial gets.

    ``iters_per_report`` training iterations separate two evaluations (= ``TEST.EVAL_PERIOD``);
    a trial trains at most ``asha.max_t * iters_per_report`` iterations.
    """

    config: str = "tiny_cpu"
    iters_per_report: int = 50
    opts: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Data:
    """Which dataset trials use. ``synthetic`` is generated once per experiment (offline default)."""

    format: Literal["synthetic", "kaggle", "fashionpedia"] = "synthetic"
    path: str | None = None
    images: int = 48
    size: int = 128
    val_fraction: float = 0.25
    max_images: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class SearchSpec:
    """A whole validated space file."""

    experiment: Experiment
    train: Train
    data: Data
    params: tuple[Param, ...]
    source: str = "<dict>"

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)
