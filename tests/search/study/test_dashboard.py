"""optuna-dashboard, as the README starts it, serves a finished study: trials, states, parameters, reports."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("optuna_dashboard")

DASHBOARD = Path(sys.executable).parent / "optuna-dashboard"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_dashboard_serves_the_study(smoke_study) -> None:
    port = _free_port()
    server = subprocess.Popen([str(DASHBOARD), "--host", "127.0.0.1", "--port", str(port), smoke_study.url],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                studies = _get(f"{base}/api/studies")["study_summaries"]
                break
            except OSError:
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "the dashboard did not answer within 60 s"
                time.sleep(0.3)
        assert [s["study_name"] for s in studies] == ["smoke"]
        detail = _get(f"{base}/api/studies/{studies[0]['study_id']}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    # The objective is named after the ranking metric (not "Objective 0").
    assert detail["objective_names"] == ["thresholds/AP_iou_f1"]
    expected = smoke_study.study.trials
    trials = sorted(detail["trials"], key=lambda t: t["number"])
    assert [t["state"] for t in trials] == [t.state.name.capitalize() for t in expected]
    assert {"Complete", "Pruned", "Fail"} <= {t["state"] for t in trials}
    for served, trial in zip(trials, expected, strict=True):
        assert {p["name"]: p["param_external_value"] for p in served["params"]} == {
            name: str(value) for name, value in trial.params.items()}
        # Reports as intermediate values (its learning curve) and the link to the trial's folder.
        assert len(served["intermediate_values"]) == len(trial.intermediate_values)
        assert {a["key"]: a["value"] for a in served["user_attrs"]}["trial_id"] == trial.user_attrs["trial_id"]
    # Conditional parameters (focal_gamma only with the focal loss) are in the union of the search space.
    assert {"lr", "loss", "backbone"} <= {p["name"] for p in detail["union_search_space"]}
