"""Space files: the shipped ones parse; every kind of mistake fails naming file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from search.space import DefineByRun, SpaceError, load_space, parse_space

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", ["smoke.yaml", "full.yaml"])
def test_shipped_spaces_parse(name: str) -> None:
    spec = load_space(REPO / "spaces" / name)
    names = {p.name for p in spec.params}
    # The dimensions the project promises in both spaces.
    assert {"backbone", "head_depth", "per_class", "loss", "lr"} <= names
    assert spec.param("focal_alpha").when == (("loss", ("focal",)),)
    assert spec.param("head_hidden").when == (("head_depth", (2,)),)


def _space(**sections: Any) -> dict[str, Any]:
    lr = {"key": "SOLVER.BASE_LR", "type": "loguniform", "low": 1e-3, "high": 1e-1}
    base: dict[str, Any] = {"params": {"lr": lr}}
    base.update(sections)
    return base


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"experimnet": {}}, "experimnet: unknown key"),
        (_space(experiment={"num_sample": 3}), "experiment.num_sample: unknown key"),
        ({"params": {"lr": {"key": "SOLVER.BASE_LR", "type": "uniform", "low": 0.5, "high": 0.1}}},
         "params.lr.low: must be <= high"),
        ({"params": {"lr": {"key": "SOLVER.BASE_LR", "type": "gaussian", "low": 0, "high": 1}}},
         "params.lr.type: expected one of"),
        ({"params": {"lr": {"key": "SOLVER.BASE_LR", "type": "loguniform", "low": 0, "high": 1}}},
         "params.lr.low: loguniform needs low > 0"),
        ({"params": {"lr": {"type": "uniform", "low": 0, "high": 1}}}, "params.lr.key: missing"),
        ({"params": {"x": {"key": "A.B", "type": "choice", "values": []}}}, "params.x.values"),
        ({"params": {"x": {"key": "A.B", "type": "choice", "values": [1], "low": 0}}}, "params.x.low: not used"),
        (_space(experiment={"resources": {"gpu": -1}}), "experiment.resources.gpu: must be >= 0"),
        (_space(experiment={"resources": {"gpu": 1.5}}), "experiment.resources.gpu: a trial takes a fraction"),
        (_space(experiment={"resources": {"tpu": 1}}), "experiment.resources.tpu: unknown key"),
        (_space(experiment={"asha": {"max_t": 2, "grace_period": 3}}), "experiment.asha.grace_period: must be <="),
        (_space(experiment={"mode": "maximize"}), "experiment.mode: expected one of"),
        (_space(experiment={"num_samples": 0}), "experiment.num_samples: must be >= 1"),
        (_space(experiment={"thresholds": {"score_grid": [0.5, 1.5]}}), "experiment.thresholds.score_grid"),
        (_space(data={"format": "kaggle"}), "data.path: format 'kaggle' needs a path"),
        (_space(data={"val_fraction": 1.0}), "data.val_fraction: must be in (0, 1)"),
        (_space(train={"opts": {"solver.base_lr": 1}}), "train.opts.solver.base_lr"),
        ({"params": {"a": {"key": "X.Y", "type": "uniform", "low": 0, "high": 1, "when": {"loss": ["focal"]}}}},
         "params.a.when.loss: must name a choice parameter defined above"),
        ({"params": {"loss": {"key": "L", "type": "choice", "values": ["bce", "focal"]},
                     "a": {"key": "X.Y", "type": "uniform", "low": 0, "high": 1, "when": {"loss": ["focall"]}}}},
         "params.a.when.loss: 'focall' is not among"),
        (_space(experiment={"thresholds": {"mode": "posthoc"}},
                params={"t": {"key": "MODEL.ROI_ATTRIBUTE_HEAD.SCORE_THRESH", "type": "uniform", "low": 0, "high": 1}}),
         "params.t: sets MODEL.ROI_ATTRIBUTE_HEAD.SCORE_THRESH"),
    ],
)
def test_invalid_spaces_name_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SpaceError, match="^bad.yaml: ") as info:
        parse_space(raw, source="bad.yaml")
    assert message in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="not found"):
        load_space(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("params: [unclosed\n")
    with pytest.raises(SpaceError, match="broken.yaml: not valid YAML"):
        load_space(broken)
    # Only safe YAML: a Python object tag is refused, not constructed.
    evil = tmp_path / "evil.yaml"
    evil.write_text("params: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(SpaceError, match="not valid YAML"):
        load_space(evil)


def test_define_by_run_samples_conditionals_only_when_active() -> None:
    spec = load_space(REPO / "spaces" / "smoke.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    fn = DefineByRun(spec.params)
    seen_focal = seen_bce = False
    for _ in range(40):
        trial = study.ask()
        fn(trial)
        params = trial.params
        if params["loss"] == "focal":
            seen_focal = True
            assert {"focal_alpha", "focal_gamma"} <= set(params)
            assert 0.25 <= params["focal_alpha"] <= 0.75
        else:
            seen_bce = True
            assert "focal_alpha" not in params and "focal_gamma" not in params
        assert ("head_hidden" in params) == (params["head_depth"] == 2)
        assert 0.003 <= params["lr"] <= 0.015
        study.tell(trial, 0.0)
    assert seen_focal and seen_bce


def test_space_yaml_has_a_comment_on_every_key() -> None:
    """Each key of the shipped spaces is documented by a comment line right above it (or its block)."""
    for name in ("smoke.yaml", "full.yaml"):
        lines = (REPO / "spaces" / name).read_text().splitlines()
        yaml.safe_load("\n".join(lines))
        for i, line in enumerate(lines):
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or ":" not in stripped or stripped.startswith("-"):
                continue
            key = stripped.split(":", 1)[0]
            if key in {"key", "type", "values", "low", "high", "when", "log", "path"}:
                continue  # parts of one documented parameter / data entry
            above = lines[i - 1].strip() if i > 0 else ""
            assert above.startswith("#"), f"{name}:{i + 1}: {key} has no comment above it"
