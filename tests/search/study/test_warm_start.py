"""search.study.warm_start: an earlier study's trials that fit the new space start the new study (Optuna, SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from search.space import DefineByRun, load_space
from search.study import (
    WARM_START_ATTR,
    WarmStartError,
    apply_warm_start,
    default_storage_url,
    open_storage,
    plan_warm_start,
    sampler_seed,
)

REPO = Path(__file__).resolve().parents[3]
SPACE = load_space(REPO / "spaces" / "smoke.yaml")
PARAMS = SPACE.params
METRIC = SPACE.experiment.metric

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _params(**changes: Any) -> dict[str, Any]:
    """A point of smoke.yaml's space (BCE loss: no focal parameters), with ``changes``; None removes one."""
    params = {"backbone": 18, "head_depth": 1, "per_class": False, "head_convs": 0, "ignore_empty": False,
              "hard_negatives": 0, "loss": "bce", "attr_loss_weight": 5.0, "lr": 0.005}
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


def _add(study: optuna.Study, params: dict[str, Any], state: TrialState = TrialState.COMPLETE,
         value: float | None = 0.5, reports: int = 4) -> None:
    """A trial as StudySearch records it: one intermediate value per report, the distributions of its own space
    (smoke.yaml's choices, wider numeric ranges)."""
    distributions = {k: _distribution(k) for k in params}
    study.add_trial(optuna.trial.create_trial(
        state=state, value=value if state == TrialState.COMPLETE else None, params=params,
        distributions=distributions, intermediate_values={i: 0.1 * i for i in range(1, reports + 1)}))


def _distribution(name: str) -> optuna.distributions.BaseDistribution:
    known = {p.name: p for p in PARAMS}
    if name not in known:
        return optuna.distributions.FloatDistribution(0.0, 1.0)
    p = known[name]
    if p.distribution == "choice":
        return optuna.distributions.CategoricalDistribution(p.values)
    return optuna.distributions.FloatDistribution(1e-4, 100.0, log=p.distribution == "loguniform")


def _source(tmp_path: Path, name: str = "earlier", direction: str = "maximize") -> tuple[Path, optuna.Study]:
    folder = tmp_path / name
    folder.mkdir()
    return folder, optuna.create_study(study_name=name, storage=default_storage_url(folder), direction=direction)


def test_fitting_trials_are_copied_with_their_states_values_and_reports(tmp_path: Path) -> None:
    folder, study = _source(tmp_path)
    _add(study, _params(), value=0.7)
    _add(study, _params(loss="focal", focal_alpha=0.5, focal_gamma=1.0), state=TrialState.PRUNED, reports=1)
    _add(study, _params(), state=TrialState.FAIL)
    _add(study, _params(lr=0.1))  # outside 0.003-0.015
    _add(study, _params(lr=0.02))
    _add(study, _params(momentum=0.9))  # not a parameter of the space
    _add(study, _params(loss="focal"))  # lacks the focal parameters the space asks for then
    _add(study, _params(head_hidden=128))  # only sampled for 2-FC heads

    plan = plan_warm_start(str(folder), PARAMS, ["max"], [METRIC])
    target = default_storage_url(tmp_path / "new")
    line = apply_warm_start(plan, target, "new", ["max"])
    assert line == (f"warm start: took 2 trials from {folder}, left out 6 (2 with lr outside the new space, "
                    "1 FAIL, 1 with momentum unused by the new space, 1 lacking focal_alpha, "
                    "1 with head_hidden unused by the new space)")
    new = optuna.load_study(study_name="new", storage=target)
    complete, pruned = new.get_trials()
    assert complete.state == TrialState.COMPLETE and complete.value == 0.7 and complete.params == _params()
    assert pruned.state == TrialState.PRUNED and pruned.intermediate_values == {1: 0.1}
    assert complete.intermediate_values == {1: 0.1, 2: 0.2, 3: pytest.approx(0.3), 4: 0.4}
    # The copies carry the new space's distributions (what TPE compares), and where they came from.
    assert complete.distributions["lr"] == optuna.distributions.FloatDistribution(0.003, 0.015, log=True)
    assert complete.user_attrs[WARM_START_ATTR].endswith("#earlier/0")
    # A second start (after a failed one) adds nothing twice.
    apply_warm_start(plan, target, "new", ["max"])
    assert len(new.get_trials()) == 2


def test_tpe_learns_from_the_copies(tmp_path: Path) -> None:
    """12 copies where BCE scores 1 and focal 0: TPE's next draws are BCE; a cold start's are not all BCE."""
    folder, study = _source(tmp_path)
    for i in range(12):
        loss = "bce" if i % 2 else "focal"
        focal = {"focal_alpha": 0.5, "focal_gamma": 1.0} if loss == "focal" else {}
        _add(study, _params(loss=loss, lr=0.004 + 0.0005 * i, **focal), value=float(loss == "bce"))
    plan = plan_warm_start(str(folder), PARAMS, ["max"], [METRIC])
    assert len(plan.copies) == 12

    def draws(copies: list[optuna.trial.FrozenTrial]) -> list[str]:
        new = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
        new.add_trials(copies)
        losses = []
        for _ in range(6):
            trial = new.ask()
            DefineByRun(PARAMS)(trial)
            losses.append(trial.params["loss"])
            new.tell(trial, state=TrialState.FAIL)  # learns nothing new
        return losses

    assert draws(plan.copies) == ["bce"] * 6
    assert "focal" in draws([])


def test_sampler_seed_moves_on_by_the_copies(tmp_path: Path) -> None:
    folder, study = _source(tmp_path)
    for _ in range(3):
        _add(study, _params())
    url = default_storage_url(tmp_path / "new")
    storage = open_storage(url)
    assert sampler_seed(7, None, "new") == 7 and sampler_seed(7, storage, "new") == 7
    apply_warm_start(plan_warm_start(str(folder), PARAMS, ["max"], [METRIC]), url, "new", ["max"])
    assert sampler_seed(7, storage, "new") == 10
    # A resumed search's seed is its own for each count of trials drawn: neither the earlier session's nor
    # another search's (a warm start that copied as many trials takes 10 + drawn).
    resumed = [sampler_seed(7, storage, "new", drawn) for drawn in (1, 2, 3)]
    assert len(set(resumed)) == 3 and not set(resumed) & set(range(0, 100))
    assert resumed == [sampler_seed(7, storage, "new", drawn) for drawn in (1, 2, 3)]  # and the same every time


def test_a_url_names_one_study_of_several(tmp_path: Path) -> None:
    folder, study = _source(tmp_path)
    _add(study, _params())
    url = default_storage_url(folder)
    optuna.create_study(study_name="other", storage=url)
    with pytest.raises(WarmStartError, match=r"holds 2 studies \(earlier, other\); name one as <storage URL>#<study>"):
        plan_warm_start(url, PARAMS, ["max"], [METRIC])
    plan = plan_warm_start(f"{url}#earlier", PARAMS, ["max"], [METRIC])
    assert len(plan.copies) == 1 and plan.source == f"{url}#earlier"
    # A folder means the study named after it.
    assert len(plan_warm_start(str(folder), PARAMS, ["max"], [METRIC]).copies) == 1


@pytest.mark.filterwarnings("ignore:.*set_metric_names is experimental")
def test_bad_sources_are_one_line(tmp_path: Path) -> None:
    folder, study = _source(tmp_path, direction="minimize")
    (tmp_path / "empty").mkdir()
    cases = {
        str(tmp_path / "nope"): "no such folder",
        str(tmp_path / "empty"): "no study.db in it",
        f"sqlite:///{tmp_path / 'nope.db'}": "no such database file",
        f"{default_storage_url(folder)}#typo": "no study 'typo' there (it holds: earlier)",
        str(folder): "its study 'earlier' minimizes, this search maximizes",
    }
    for given, problem in cases.items():
        with pytest.raises(WarmStartError) as err:
            plan_warm_start(given, PARAMS, ["max"], [METRIC])
        assert str(err.value).startswith(f"--warm-start {given}: ") and problem in str(err.value)
        assert "\n" not in str(err.value)
    assert not (tmp_path / "nope.db").exists()
    study.set_metric_names(["segm/AP"])
    with pytest.raises(WarmStartError, match=f"optimized segm/AP, this search {METRIC}"):
        plan_warm_start(str(folder), PARAMS, ["min"], [METRIC])
    plan = plan_warm_start(str(folder), PARAMS, ["min"], ["segm/AP"])
    with pytest.raises(WarmStartError, match="that is this search's own study"):
        apply_warm_start(plan, default_storage_url(folder), "earlier", ["min"])


def test_the_analysis_leaves_the_copies_out(tmp_path: Path) -> None:
    """summary.md and the plots are about the trials this search ran; the copies only taught TPE."""
    from search.report import own_trials

    folder, source = _source(tmp_path)
    for lr in (0.004, 0.006):
        _add(source, _params(lr=lr))
    new = optuna.create_study(study_name="new", storage=default_storage_url(tmp_path), direction="maximize")
    assert own_trials(new) == (new, 0)
    plan = plan_warm_start(str(folder), PARAMS, ["max"], [METRIC])
    apply_warm_start(plan, default_storage_url(tmp_path), "new", ["max"])
    new = optuna.load_study(study_name="new", storage=open_storage(default_storage_url(tmp_path)))
    _add(new, _params(lr=0.01), value=0.7)
    own, copied = own_trials(new)
    assert copied == 2 and len(new.trials) == 3
    assert [(t.params["lr"], t.value) for t in own.trials] == [(0.01, 0.7)]
    assert own.study_name == "new" and own.directions == new.directions


def test_sampler_seed_ignores_trials_that_are_not_copies(tmp_path: Path) -> None:
    # A study that already holds this search's own trials (e.g. a shared database) keeps the seed.
    storage = open_storage(default_storage_url(tmp_path))
    study = optuna.create_study(study_name="new", storage=storage, direction="maximize")
    _add(study, _params())
    assert sampler_seed(7, storage, "new") == 7
