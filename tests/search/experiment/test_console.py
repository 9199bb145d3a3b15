"""The console's pieces on their own: short trial names and one line per trial event.

(The whole console -- Tune's table included -- is checked on a real smoke search in test_search_e2e.py.)
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("ray")

from search.experiment import TrialEvents, TrialNamer
from search.space import load_space

SPEC = load_space(Path(__file__).resolve().parents[3] / "spaces" / "smoke.yaml")


class _Trial(SimpleNamespace):
    """What the callbacks read of a Tune trial (the name it prints is Tune's str(trial))."""

    def __str__(self) -> str:
        return str(self.name)

    def get_error(self) -> Any:
        return self.error


def _trial(**kw: Any) -> _Trial:
    base = {"name": "t003_ab12cd34", "trial_id": "ab12cd34", "config": {}, "last_result": {}, "path": "/x/t003",
            "error": None}
    return _Trial(**{**base, **kw})


def test_trial_names_are_short_and_numbered() -> None:
    trial = SimpleNamespace(experiment_tag="7_backbone=18,lr=0.01", trial_id="a7e37be7")
    assert TrialNamer("t")(trial) == "t007_a7e37be7"
    assert TrialNamer("c")(SimpleNamespace(experiment_tag="12_x=1", trial_id="0f0f0f0f")) == "c012_0f0f0f0f"


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.strip().splitlines()


def test_one_line_per_event(capsys: pytest.CaptureFixture[str]) -> None:
    events = TrialEvents(SPEC, "search")
    trial = _trial(config={"backbone": 18, "loss": "bce", "lr": 0.0123456})
    events.on_trial_start(0, [], trial)
    events.on_trial_result(0, [], trial, {"training_iteration": 1, "thresholds/AP_iou_f1": 0.02, "iteration": 25})
    events.on_trial_result(0, [], trial, {"training_iteration": 2, "thresholds/AP_iou_f1": 0.01, "iteration": 50})
    trial.last_result = {"training_iteration": 2}
    events.on_trial_complete(0, [], trial)
    started, first, second, stopped = _lines(capsys)
    assert started.endswith("t003_ab12cd34  started   backbone=18 loss=bce lr=0.01235")
    assert "reported  1/4  thresholds/AP_iou_f1=0.02 (best 0.02, iteration 25)" in first
    assert "reported  2/4  thresholds/AP_iou_f1=0.01 (best 0.02, iteration 50)" in second
    assert stopped.endswith("stopped by ASHA after 2/4 reports  (best 0.02)")


def test_finished_diverged_and_failed(capsys: pytest.CaptureFixture[str]) -> None:
    events = TrialEvents(SPEC, "confirm")
    events.on_trial_complete(0, [], _trial(last_result={"training_iteration": 4}))
    events.on_trial_complete(0, [], _trial(last_result={"training_iteration": 2, "diverged": 1,
                                                        "diverged_reason": "Loss became infinite or NaN"}))
    error = RuntimeError("Traceback (most recent call last):\n  File x\n\nValueError: MODEL.FOO is bad\n")
    events.on_trial_error(0, [], _trial(error=error))
    finished, diverged, failed = _lines(capsys)
    assert finished.endswith("finished  4/4 reports  (best -)")
    assert diverged.endswith("diverged  after 2 report(s): Loss became infinite or NaN")
    assert "FAILED    ValueError: MODEL.FOO is bad  (log: /x/t003/train/log.txt)" in failed


def test_the_table_shows_each_trial_at_its_ranked_report(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Tune's own table code on real Trials: the metric column is the trial's best report (0.01618, the value
    results.csv and the study give it), not Tune's default, its last (0.00757)."""
    from ray.tune.experiment import Trial

    from search.experiment import TrialTable

    # The one thing of a running experiment the table reads that needs a Ray session: the results folder.
    monkeypatch.setattr(Trial, "local_experiment_path", property(lambda self: str(tmp_path)))
    monkeypatch.setattr(Trial, "error_file", property(lambda self: None))
    events = TrialEvents(SPEC, "search")
    table = TrialTable(SPEC, events)
    table.setup(start_time=0.0, total_samples=2, metric="thresholds/AP_iou_f1", mode="max")
    trial = Trial("t", config={"backbone": 18, "lr": 0.01}, trial_id="ab12cd34", stub=True)
    for step, value in enumerate((0.00034, 0.00218, 0.01618, 0.00757), start=1):
        result = {"training_iteration": step, "thresholds/AP_iou_f1": value, "iteration": 25 * step}
        events.on_trial_result(0, [trial], trial, result)
        trial.update_last_result(result)
    restored = Trial("t", config={"backbone": 34, "lr": 0.005}, trial_id="cd34ef56", stub=True)
    for step, value in enumerate((0.2, 0.1), start=1):  # reported before a --resume: only Tune's analysis knows
        restored.update_last_result({"training_iteration": step, "thresholds/AP_iou_f1": value})
    capsys.readouterr()
    table.report([trial, restored], done=True)
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "ab12cd34" in line)
    assert "0.01618" in row and "0.00757" not in row
    assert "0.2 " in next(line for line in out.splitlines() if "cd34ef56" in line)
