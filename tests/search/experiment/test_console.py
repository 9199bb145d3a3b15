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
