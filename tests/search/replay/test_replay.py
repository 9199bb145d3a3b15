"""search.replay: searches replayed on recorded curves by the searcher and scheduler search.run builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from conftest import GRID, METRIC, write_space, write_table
from ray.tune.search import ConcurrencyLimiter

import search.experiment
import search.experiment.tuner
from search.experiment import ResumableASHAScheduler
from search.replay import Replay, load_curves, method_space
from search.replay.__main__ import main
from search.space import read_yaml
from search.study import StudySearch


def _spec(space: Path, method: str = "default") -> Any:
    return method_space(read_yaml(space, "space", ValueError), method, source=str(space))


def test_the_replay_drives_the_objects_search_run_builds(dominated: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay asks search.experiment.build_tune_config (what search.run's tuner uses) for its searcher and
    scheduler, and every trial it replays is a trial of that StudySearch's study with the state and value the
    trace gives it."""
    built: list[Any] = []
    real = search.experiment.tuner.build_tune_config

    def spy(spec: Any, storage_url: str | None = None) -> Any:
        built.append(real(spec, storage_url))
        return built[-1]

    monkeypatch.setattr(search.experiment.tuner, "build_tune_config", spy)
    monkeypatch.setattr(search.experiment, "build_tune_config", spy, raising=False)
    spec = _spec(write_space(tmp_path / "s.yaml", num_samples=12, max_concurrent=3,
                             searcher={"startup_trials": 4}))
    trace = Replay(load_curves(dominated), METRIC, "max").run(spec, workers=3, seed=1)
    (config,) = built
    assert type(config.search_alg) is ConcurrencyLimiter and type(config.search_alg.searcher) is StudySearch
    assert type(config.scheduler) is ResumableASHAScheduler
    # search.run builds its Tuner from the same function (its TuneConfig is the one the replay drove).
    assert "tune_config=build_tune_config(spec, storage_url," in Path(search.experiment.tuner.__file__).read_text()
    study = config.search_alg.searcher._ot_study
    trials = {t.user_attrs["trial_id"]: t for t in study.get_trials(deepcopy=False)}
    assert len(trials) == len(trace.trials) == 12
    for t in trace.trials:
        frozen = trials[t.trial_id]
        if t.full_budget:
            assert frozen.state == optuna.trial.TrialState.COMPLETE and frozen.value == t.value
        else:
            assert frozen.state == optuna.trial.TrialState.PRUNED and t.reports < 4
    assert trace.iterations == sum(t.iterations for t in trace.trials)


def test_tpe_asha_finds_a_dominating_config_and_asha_stops_the_rest_at_the_first_rung(
        dominated: Path, tmp_path: Path) -> None:
    # ASHA keeps the best 1 in 100 at its one rung (report 1): once config 0 has reported there, nothing else passes.
    space = write_space(tmp_path / "s.yaml", num_samples=24, searcher={"startup_trials": 5},
                        asha={"grace_period": 1, "reduction_factor": 100})
    replay = Replay(load_curves(dominated), METRIC, "max")
    for seed in range(4):
        trace = replay.run(_spec(space), workers=1, seed=seed)
        assert trace.events[-1][3] == 0  # the incumbent is config 0
        first = next(i for i, t in enumerate(trace.trials) if t.config_id == 0)
        later = [t for t in trace.trials[first + 1:] if t.config_id != 0]
        assert later and all(t.reports == 1 for t in later), [(t.config_id, t.reports) for t in later]
        assert all(t.full_budget for t in trace.trials if t.config_id == 0)
        # TPE comes back to what it found (random search rarely does: the next test).
        assert sum(t.config_id == 0 for t in trace.trials[5:]) >= 3


def test_a_config_proposed_again_answers_with_the_same_run(dominated: Path, tmp_path: Path) -> None:
    """A search trains every trial with one seed: the same config twice is the same run, not a second seed."""
    path = write_space(tmp_path / "s.yaml", num_samples=30, searcher={"startup_trials": 3})
    raw = yaml.safe_load(path.read_text())
    raw["params"]["x"] = {"key": raw["params"]["x"]["key"], "type": "choice",
                          "values": sorted({x for x, _ in GRID})}  # a finite space: TPE proposes repeats
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    trace = Replay(load_curves(dominated), METRIC, "max").run(_spec(path), workers=1, seed=0)
    seeds: dict[str, set[int]] = {}
    for t in trace.trials:
        seeds.setdefault(json.dumps(t.config, sort_keys=True), set()).add(t.seed)
    assert len(seeds) < len(trace.trials)  # there were repeats
    assert all(len(s) == 1 for s in seeds.values()), seeds


def test_random_search_finds_it_less_often_than_tpe(dominated: Path, tmp_path: Path) -> None:
    space = write_space(tmp_path / "s.yaml", num_samples=16, searcher={"startup_trials": 4})
    replay = Replay(load_curves(dominated), METRIC, "max")
    tpe = random = 0
    for seed in range(6):
        tpe += sum(t.config_id == 0 for t in replay.run(_spec(space), workers=1, seed=seed).trials)
        random += sum(t.config_id == 0 for t in replay.run(_spec(space, "random_asha"), workers=1, seed=seed).trials)
    assert tpe > 3 * random


def test_the_simulated_clock_orders_reports_by_time(tmp_path: Path) -> None:
    """Two workers: a slow config's reports come after a fast one's that started later, in time order."""
    table = write_table(tmp_path / "t.csv.gz", lambda x, c, seed, r: 0.1 * r)
    curves = load_curves(table)
    trace = Replay(curves, METRIC, "max").run(_spec(write_space(tmp_path / "s.yaml", max_concurrent=2,
                                                                scheduler="fifo", num_samples=6)),
                                              workers=2, seed=0)
    times = [e[0] for e in trace.events]
    assert times == sorted(times)
    # FIFO: every trial trains all 4 reports of 10 iterations; 6 trials on 2 workers.
    assert trace.iterations == 6 * 40 and all(t.full_budget for t in trace.trials)
    assert trace.seconds < sum(t.ended - t.started for t in trace.trials)  # two at once


def test_crossing_curves_fire_the_rung_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Report 1 ranks the configs in reverse of the full budget (the curves cross after it): ASHA's rung at
    report 1 stops trials no better than chance, and the replay says so with the setting to change."""
    def crossing(x: float, c: str, seed: int, r: int) -> float:
        late = (1 - x) * (1 if c == "a" else 0.7)
        return round(x * 0.3 + 0.001 * seed if r == 1 else late * r / 4, 6)

    table = write_table(tmp_path / "crossing.csv.gz", crossing)
    space = write_space(tmp_path / "s.yaml", asha={"grace_period": 1, "reduction_factor": 2})
    assert main(["--table", str(table), "--space", str(space), "--repetitions", "3", "--jobs", "1",
                 "--methods", "default", "random_asha", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "WARNING: rung at report 1: rho -" in out
    assert "raise experiment.asha.grace_period to 2 (report 2 ranks them)" in out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["rungs"][0]["report"] == 1 and doc["rungs"][0]["rho"] < 0
    assert any("WARNING" in line for line in doc["rung_advice"])


def test_the_same_seed_gives_the_same_json(dominated: Path, tmp_path: Path) -> None:
    space = write_space(tmp_path / "s.yaml", num_samples=10, max_concurrent=2)
    outs = []
    for k in range(2):
        out = tmp_path / f"r{k}.json"
        assert main(["--table", str(dominated), "--space", str(space), "--repetitions", "4", "--jobs", "1",
                     "--json", str(out), "--bootstrap", "200"]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    doc = json.loads(outs[0])
    assert set(doc["methods"]) == {"random_fifo", "random_asha", "tpe_fifo", "default"}
    for m in doc["methods"].values():
        assert {"final_best_median", "iterations_median", "regret_median", "curve_iterations"} <= set(m)
    ratio = doc["default_vs_random"]
    assert set(ratio) >= {"ratio", "ci95"} and len(ratio["ci95"]) == 2
    other = tmp_path / "seed7.json"
    assert main(["--table", str(dominated), "--space", str(space), "--repetitions", "4", "--jobs", "1",
                 "--json", str(other), "--bootstrap", "200", "--seed", "7"]) == 0
    assert other.read_bytes() != outs[0]


def test_the_plot_is_drawn(dominated: Path, tmp_path: Path) -> None:
    space = write_space(tmp_path / "s.yaml", num_samples=8)
    png = tmp_path / "curves.png"
    assert main(["--table", str(dominated), "--space", str(space), "--repetitions", "2", "--jobs", "1",
                 "--plot", str(png), "--bootstrap", "50"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_an_experiment_folder_is_replayed_with_its_stopped_trials_continued(tmp_path: Path) -> None:
    """A folder's trials are runs (Tune's result.json lines); ASHA-stopped ones end early, and a replay that
    lets them run on continues them from the nearest run that went further."""
    folder = tmp_path / "exp"
    for n, (x, c) in enumerate(GRID[:8]):
        trial = folder / f"t{n + 1:03d}_abc{n}"
        trial.mkdir(parents=True)
        reports = 4 if n % 3 == 0 else 1  # trials 0, 3, 6 ran the full budget
        lines = [json.dumps({"training_iteration": r, "iteration": 10 * r, "time_total_s": 5.0 * r,
                             METRIC: (1 - x) * r / 4, "config": {"x": x, "c": c}}) for r in range(1, reports + 1)]
        (trial / "result.json").write_text("\n".join(lines) + "\n")
    space = write_space(tmp_path / "s.yaml", num_samples=8, scheduler="fifo")
    curves = load_curves(folder, _spec(space).params)
    assert len(curves.runs) == 8 and sum(len(r.reports) == 4 for r in curves.runs) == 3
    trace = Replay(curves, METRIC, "max").run(_spec(space), workers=1, seed=0)
    assert all(t.full_budget for t in trace.trials) and trace.borrowed > 0


@pytest.mark.parametrize(("change", "message"), [
    ("max_t", "its runs have 4 reports; {space}'s asha.max_t is 6 (record longer curves or lower max_t)"),
    ("method", "method 'bogus': unknown name 'bogus'"),
    ("metric", "no column for the space's metric 'segm/AP_iou_F1'"),
    ("column", "missing column 'seconds'"),
])
def test_bad_input_is_one_line_before_any_search(tmp_path: Path, dominated: Path, capsys: pytest.CaptureFixture[str],
                                                 change: str, message: str) -> None:
    table = dominated
    space = write_space(tmp_path / "s.yaml", **({"asha": {"max_t": 6}} if change == "max_t" else {}),
                        **({"metric": "segm/AP_iou_F1"} if change == "metric" else {}))
    if change == "column":
        import gzip

        text = gzip.decompress(dominated.read_bytes()).decode().replace(",seconds,", ",secs,")
        table = tmp_path / "bad.csv"
        table.write_text(text)
    methods = ["--methods", "bogus"] if change == "method" else []
    assert main(["--table", str(table), "--space", str(space), "--repetitions", "2", "--jobs", "1", *methods]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert message.format(space=space) in err
