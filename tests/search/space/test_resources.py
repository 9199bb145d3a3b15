"""Per-trial resources that follow the sampled config (``params.<name>.resources``).

Fast tests parse and resolve; the slow one runs Ray Tune with the project's searcher stack (Optuna
define-by-run behind a ConcurrencyLimiter, ASHA) on fake GPUs and reads, inside each trial, what
Ray actually assigned to it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from search.run import get_args_parser, load_spec
from search.space import (
    Resources,
    SpaceError,
    load_space,
    parse_space,
    pin_resources,
    resource_options,
    trial_resources,
)

REPO = Path(__file__).resolve().parents[3]
R50, R101, X101 = "mask_rcnn_R_50_FPN", "mask_rcnn_R_101_FPN", "mask_rcnn_X_101_32x8d_FPN"


def _space(resources: Any, values: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    size = {"key": "A.B", "type": "choice", "values": values or ["small", "big"], "resources": resources, **extra}
    return {"experiment": {"resources": {"cpu": 1, "gpu": 0.5}}, "params": {"size": size}}


def test_full_yaml_gives_each_backbone_its_resources() -> None:
    spec = load_space(REPO / "spaces" / "full.yaml")
    fn = trial_resources(spec)
    assert fn.for_config({"backbone": R50, "lr": 0.01}) == Resources(cpu=4, gpu=0.5)
    assert fn.for_config({"backbone": R101}) == Resources(cpu=6, gpu=1)
    assert fn.for_config({"backbone": X101}) == Resources(cpu=6, gpu=1)
    # Every backbone is listed and the parameter is unconditional: experiment.resources is never used.
    assert {o.resources for o in resource_options(spec)} == {Resources(4, 0.5), Resources(6, 1)}


def test_unlisted_values_and_unlisted_fields_take_experiment_resources() -> None:
    spec = parse_space(_space({"big": {"gpu": 1}}), source="s.yaml")
    fn = trial_resources(spec)
    assert fn.for_config({"size": "big"}) == Resources(cpu=1, gpu=1)  # cpu from experiment.resources
    assert fn.for_config({"size": "small"}) == Resources(cpu=1, gpu=0.5)
    assert fn.for_config({}) == Resources(cpu=1, gpu=0.5)
    options = {o.who: o for o in resource_options(spec)}
    assert set(options) == {"trials with size=big", "trials with another size"}
    assert options["trials with size=big"].where == {"cpu": "experiment.resources.cpu in s.yaml",
                                                     "gpu": "params.size.resources.big.gpu in s.yaml"}


def test_a_conditional_parameter_may_be_absent_so_the_default_is_an_option() -> None:
    raw = _space({"small": {"gpu": 0.25}, "big": {"gpu": 1}}, when={"loss": ["focal"]})
    raw["params"] = {"loss": {"key": "L", "type": "choice", "values": ["bce", "focal"]}, **raw["params"]}
    spec = parse_space(raw)
    assert Resources(1, 0.5) in {o.resources for o in resource_options(spec)}
    assert trial_resources(spec).for_config({"loss": "bce"}) == Resources(1, 0.5)


def test_values_match_by_type_too() -> None:
    # YAML's 1 == true: a trial that drew `true` must not get the entry of `1`.
    spec = parse_space(_space({1: {"gpu": 1}}, values=[1, True]))
    fn = trial_resources(spec)
    assert fn.for_config({"size": 1}).gpu == 1 and fn.for_config({"size": True}).gpu == 0.5


def test_tune_gets_the_resources_of_the_drawn_value_from_build_trainable() -> None:
    """The callable reaches Tune: the function trainable's default_resource_request (what Tune's
    trial calls with its config) answers per backbone."""
    from ray.tune.trainable.function_trainable import wrap_function

    from fashion_core.data import DatasetSpec
    from search.experiment import build_trainable

    spec = load_space(REPO / "spaces" / "full.yaml")
    trainable = wrap_function(build_trainable(spec, DatasetSpec("kaggle", "/absent/train.csv", "/absent")))
    for backbone, bundle in [(X101, {"CPU": 6.0, "GPU": 1.0}), (R50, {"CPU": 4.0, "GPU": 0.5})]:
        request = trainable.default_resource_request({"backbone": backbone, "lr": 0.01})
        assert request.bundles == [bundle]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_space({"huge": {"gpu": 1}}), "params.size.resources.huge: 'huge' is not among the parameter's values"),
        (_space({"1": {"gpu": 1}}, values=[1, 2]), "params.size.resources.1: '1' is not among"),
        (_space({"big": {"gpu": 1.5}}), "params.size.resources.big.gpu: a trial takes a fraction"),
        (_space({"big": {"gpu": -1}}), "params.size.resources.big.gpu: must be >= 0"),
        (_space({"big": {"cpu": 0}}), "params.size.resources.big.cpu: must be >= 0.01"),
        (_space({"big": {"tpu": 1}}), "params.size.resources.big.tpu: unknown key"),
        (_space({"big": {}}), "params.size.resources.big: expected cpu and/or gpu"),
        (_space({"big": 1}), "params.size.resources.big: expected a mapping"),
        (_space([{"big": 1}]), "params.size.resources: expected a mapping {value:"),
        ({"params": {"lr": {"key": "S.LR", "type": "uniform", "low": 0, "high": 1, "resources": {0.5: {"gpu": 1}}}}},
         "params.lr.resources: only a choice's values can have their own resources, not a uniform's"),
        ({"params": {"a": {"key": "A", "type": "choice", "values": [1, 2], "resources": {1: {"gpu": 1}}},
                     "b": {"key": "B", "type": "choice", "values": [1, 2], "resources": {2: {"gpu": 1}}}}},
         "params.b.resources: only one parameter may give its values resources, and params.a already does"),
    ],
)
def test_invalid_value_resources_name_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SpaceError, match="^bad.yaml: ") as info:
        parse_space(raw, source="bad.yaml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_command_line_sets_the_field_for_every_trial() -> None:
    full = str(REPO / "spaces" / "full.yaml")
    spec = load_space(full)
    args = get_args_parser().parse_args(["--space", full, "--gpus-per-trial", "0"])
    fn = trial_resources(load_spec(args))
    # Every backbone on the CPU; each keeps its own CPU count.
    assert fn.for_config({"backbone": X101}) == Resources(cpu=6, gpu=0)
    assert fn.for_config({"backbone": R50}) == Resources(cpu=4, gpu=0)
    # The same value as the file's default still pins it (not a no-op that keeps X101's whole GPU).
    args = get_args_parser().parse_args(["--space", full, "--gpus-per-trial", "0.5", "--cpus-per-trial", "2"])
    assert {o.resources for o in resource_options(load_spec(args))} == {Resources(2, 0.5)}
    assert pin_resources(spec, cpu=False, gpu=False) is spec


@pytest.mark.slow
def test_each_trial_gets_the_resources_of_its_value_in_a_real_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray Tune + Optuna define-by-run + ConcurrencyLimiter + ASHA (search.experiment.tuner), on 2 fake GPUs;
    each trial reports what Ray assigned to it (about 1 minute)."""
    import ray
    from ray import tune

    from search.experiment import build_run_config, build_tune_config

    raw = {
        "experiment": {"metric": "score", "num_samples": 6, "max_concurrent": 2, "asha": {"max_t": 1},
                       "resources": {"cpu": 1, "gpu": 0.5}},
        "params": {"size": {"key": "A.B", "type": "choice", "values": ["small", "big"],
                            "resources": {"big": {"cpu": 2, "gpu": 1}}},
                   "lr": {"key": "S.LR", "type": "loguniform", "low": 1e-3, "high": 1e-1}},
    }
    spec = parse_space(raw, source="probe.yaml")

    def report_assigned(config: dict[str, Any]) -> None:
        # Defined here so Ray pickles it by value (workers cannot import test modules).
        assigned = ray.get_runtime_context().get_assigned_resources()
        tune.report({"score": config["lr"], "assigned_cpu": assigned.get("CPU"), "assigned_gpu": assigned.get("GPU")})

    expected = {"small": {"CPU": 1.0, "GPU": 0.5}, "big": {"CPU": 2.0, "GPU": 1.0}}
    # Ray refuses to declare GPUs under conftest's empty CUDA_VISIBLE_DEVICES; the probe trials
    # never touch CUDA (they only read what Ray assigned), so the fake GPUs stay fake.
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with tempfile.TemporaryDirectory(prefix="ftray-", dir="/tmp") as tmp:
        ray.init(num_cpus=3, num_gpus=2, include_dashboard=False, _temp_dir=tmp, log_to_driver=False)
        try:
            tuner = tune.Tuner(tune.with_resources(report_assigned, trial_resources(spec)),
                               tune_config=build_tune_config(spec), run_config=build_run_config(spec, tmp + "/out"))
            grid = tuner.fit()
        finally:
            ray.shutdown()
    assert len(grid) == 6 and not grid.errors
    seen = set()
    for result in grid:
        size = result.config["size"]
        seen.add(size)
        assigned = {"CPU": result.metrics["assigned_cpu"], "GPU": result.metrics["assigned_gpu"]}
        assert assigned == expected[size], result.config
    assert seen == {"small", "big"}
