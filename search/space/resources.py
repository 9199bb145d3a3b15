"""Per-trial resources that follow the sampled config (``params.<name>.resources`` in a space).

Tune computes a trial's resources from its config when ``tune.with_resources`` is given a callable
(Ray 2.60: the function trainable's ``default_resource_request(config)`` calls it when the trial is
added, after the searcher -- here Optuna's define-by-run behind a ``ConcurrencyLimiter`` -- has
filled the config with the sampled values, e.g. ``{"backbone": "mask_rcnn_X_101_32x8d_FPN", ...}``).
:class:`TrialResources` is that callable; :func:`resource_options` lists every request a trial may
make, so the pre-flight check can test each before Ray starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from search.space.spec import Param, Resources, SearchSpec

if TYPE_CHECKING:  # Ray is imported where a trial needs it: validation and pre-flight stay light.
    from ray.tune import PlacementGroupFactory


@dataclass(frozen=True)
class ResourceOption:
    """One resource request some trials make.

    Attributes:
        resources: what such a trial asks for.
        who: which trials, for messages (``each trial``, ``trials with backbone=X``).
        where: the setting of each field, for messages (``{"cpu": "experiment.resources.cpu", ...}``).
    """

    resources: Resources
    who: str
    where: Mapping[str, str]


class TrialResources:
    """``config -> PlacementGroupFactory`` for ``tune.with_resources``.

    A module-level class rather than a closure so it pickles (Tune stores the trainable with it,
    and ``--resume`` rebuilds it the same way).
    """

    def __init__(self, default: Resources, param: str | None = None,
                 by_value: tuple[tuple[Any, Resources], ...] = ()) -> None:
        self.default = default
        self.param = param
        self.by_value = by_value

    def for_config(self, config: Mapping[str, Any]) -> Resources:
        """The resources of a trial with this (flat, sampled) config."""
        if self.param is not None and self.param in config:
            drawn = config[self.param]
            for value, resources in self.by_value:
                # type() too: YAML's 1 == True would otherwise give a `true` trial the `1` entry.
                if value == drawn and type(value) is type(drawn):
                    return resources
        return self.default

    def __call__(self, config: dict[str, Any]) -> PlacementGroupFactory:
        from ray.tune.execution.placement_groups import resource_dict_to_pg_factory

        res = self.for_config(config)
        # The same translation Tune applies to a plain {"cpu", "gpu"} dict (one bundle).
        return resource_dict_to_pg_factory({"cpu": res.cpu, "gpu": res.gpu})


def trial_resources(spec: SearchSpec) -> TrialResources:
    """The resource callable of a space (constant when no parameter has per-value resources)."""
    param = _resource_param(spec)
    default = spec.experiment.resources
    if param is None:
        return TrialResources(default)
    return TrialResources(default, param.name, tuple((v.value, _resolve(default, v.cpu, v.gpu))
                                                     for v in param.resources))


def resource_options(spec: SearchSpec) -> tuple[ResourceOption, ...]:
    """Every distinct request a trial of ``spec`` may make, with the settings that make it."""
    default = spec.experiment.resources
    default_where = {f: f"experiment.resources.{f} in {spec.source}" for f in ("cpu", "gpu")}
    param = _resource_param(spec)
    if param is None:
        return (ResourceOption(default, "each trial", default_where),)
    options = []
    for v in param.resources:
        where = {f: (f"params.{param.name}.resources.{v.value}.{f} in {spec.source}"
                     if getattr(v, f) is not None else default_where[f]) for f in ("cpu", "gpu")}
        options.append(ResourceOption(_resolve(default, v.cpu, v.gpu), f"trials with {param.name}={v.value}",
                                      where))
    listed = [v.value for v in param.resources]
    # The default still applies to values without an entry, and to trials where a conditional
    # parameter is not sampled at all.
    if param.when or any(v not in listed for v in param.values):
        options.append(ResourceOption(default, f"trials with another {param.name}", default_where))
    return tuple(options)


def pin_resources(spec: SearchSpec, cpu: bool, gpu: bool) -> SearchSpec:
    """Drop the per-value ``cpu`` / ``gpu`` settings, so ``experiment.resources`` applies to every trial.

    For ``--cpus-per-trial`` / ``--gpus-per-trial``: the command line sets that field for all
    trials (e.g. ``--gpus-per-trial 0`` trains every backbone on the CPU).
    """
    if not (cpu or gpu):
        return spec
    params = []
    for p in spec.params:
        entries = tuple(
            dataclasses.replace(v, cpu=None if cpu else v.cpu, gpu=None if gpu else v.gpu) for v in p.resources
        )
        params.append(dataclasses.replace(
            p, resources=tuple(v for v in entries if v.cpu is not None or v.gpu is not None)))
    return dataclasses.replace(spec, params=tuple(params))


def _resource_param(spec: SearchSpec) -> Param | None:
    # space.py lets at most one parameter carry per-value resources.
    return next((p for p in spec.params if p.resources), None)


def _resolve(default: Resources, cpu: float | None, gpu: float | None) -> Resources:
    return Resources(cpu=default.cpu if cpu is None else cpu, gpu=default.gpu if gpu is None else gpu)
