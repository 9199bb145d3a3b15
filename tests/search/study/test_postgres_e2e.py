"""The study on a real PostgreSQL server (``--storage-url postgresql://...``, README "Scale out"), end to end on
the CPU: a tiny search, its resumption grown by a trial, and a warm start from an SQLite study, each checked
with Optuna's API. The server is a throwaway one (:mod:`tests.search.study.postgres_server`); without
PostgreSQL's binaries the tests are skipped with the reason.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

pytest.importorskip("detectron2")
pytest.importorskip("ray")
pytest.importorskip("psycopg")

import optuna
from optuna.trial import TrialState

from tests.search.study.postgres_server import postgres_server, why_not
from tests.search.tiny_search import search_run, tiny_space

if TYPE_CHECKING:
    from tests.search.conftest import FinishedStudy

METRIC = "thresholds/AP_iou_f1"  # smoke.yaml's
pytestmark = [pytest.mark.slow, pytest.mark.skipif(why_not() is not None, reason=str(why_not()))]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def ray_tmp() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="ftray-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).get_trials()


def _last_value(trial: optuna.trial.FrozenTrial) -> float:
    """What the trial reported last: its value (COMPLETE), or its last intermediate value (PRUNED by ASHA)."""
    if trial.state == TrialState.COMPLETE:
        assert trial.value is not None
        return trial.value
    return trial.intermediate_values[max(trial.intermediate_values)]


def test_a_search_on_postgres_resumes_and_grows(postgres_url: str, ray_tmp: str, tmp_path: Path) -> None:
    space = tiny_space(tmp_path / "pg.yaml", "pg", num_samples=2, confirm=0)
    storage = tmp_path / "out"
    proc = search_run(space, storage, "--storage-url", postgres_url, ray_tmpdir=ray_tmp)
    assert f"study: {postgres_url} (study 'pg')" in proc.stdout
    exp = storage / "pg"
    assert not (exp / "study.db").exists() and (exp / "state.signatures").is_file()
    before = _trials(postgres_url, "pg")
    assert len(before) == 2 and {t.state for t in before} <= {TrialState.COMPLETE, TrialState.PRUNED}
    table = pd.read_csv(exp / "results.csv").set_index("trial_id")
    for t in before:
        # The study holds what the trial reported: its last value, one intermediate value per report.
        row = table.loc[t.user_attrs["trial_id"]]
        assert _last_value(t) == pytest.approx(row[METRIC]) and math.isfinite(_last_value(t))
        assert sorted(t.intermediate_values) == list(range(1, int(row["reports"]) + 1))

    proc = search_run(space, storage, "--resume", "--num-samples", "3", "--storage-url", postgres_url,
                      ray_tmpdir=ray_tmp)
    assert "--num-samples 3: the search runs to 3 trials instead of 2 (2 made, 1 to sample)" in proc.stdout
    after = _trials(postgres_url, "pg")
    assert len(after) == 3 and {t.state for t in after} <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert [(t.params, t.state, t.values) for t in after[:2]] == [(t.params, t.state, t.values) for t in before]
    assert len({json.dumps(t.params, sort_keys=True) for t in after}) == 3
    assert set(pd.read_csv(exp / "results.csv")["trial_id"]) == {t.user_attrs["trial_id"] for t in after}


def test_a_warm_start_from_sqlite_into_postgres(postgres_url: str, ray_tmp: str, tmp_path: Path,
                                                smoke_study: FinishedStudy) -> None:
    source = smoke_study.study.get_trials()
    taken = [t for t in source if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    space = tiny_space(tmp_path / "warm.yaml", "pgwarm", num_samples=1, confirm=0)
    proc = search_run(space, tmp_path / "out", "--warm-start", str(smoke_study.folder), "--storage-url",
                      postgres_url, ray_tmpdir=ray_tmp)
    assert f"warm start: took {len(taken)} trials from {smoke_study.folder}" in proc.stdout
    trials = _trials(postgres_url, "pgwarm")
    copies, new = trials[:len(taken)], trials[len(taken):]
    for copy, original in zip(copies, taken, strict=True):
        assert copy.user_attrs["warm_start"].endswith(f"#smoke/{original.number}")
        assert (copy.state, copy.params, copy.values, copy.intermediate_values) == (
            original.state, original.params, original.values, original.intermediate_values)
    assert len(new) == 1 and new[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert "warm_start" not in new[0].user_attrs and math.isfinite(_last_value(new[0]))
