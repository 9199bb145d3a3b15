"""``--resume`` loads only experiment state that a search signed (README, Security), end to end on the CPU.

One tiny search is made as a version from before signed state made it (no signer, no manifest): it is refused
without ``--trust-unsigned``, resumed and grown with it, and resumed without it afterwards. Copies of it, now
signed, with a state file replaced or planted (a pickle whose unpickling touches a marker file) are refused in
one line naming the file, and no payload runs. (A search signed from its start resumes in
tests/search/experiment/test_grow_e2e.py, tests/search/study/test_postgres_e2e.py and, after SIGKILL,
tests/search/test_search_e2e.py.)
"""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("detectron2")
pytest.importorskip("ray")

import optuna

from tests.search.tiny_search import Payload, search_run, tiny_space

MANIFEST = "state.signatures"  # search.experiment.signing.MANIFEST

# search.run as a version before signed state ran it: its Tuners have no signer and write no manifest.
UNSIGNED = """
import sys
from ray import tune
import search.experiment.confirm as confirm
import search.experiment.tuner as tuner
def unsigned(trainable, *, tune_config, run_config, param_space=None):
    return tune.Tuner(trainable, param_space=param_space, tune_config=tune_config, run_config=run_config)
tuner.signed_tuner = confirm.signed_tuner = unsigned
from search import run
sys.exit(run.main(sys.argv[1:]))
"""


@dataclass(frozen=True)
class Old:
    space: Path
    storage: Path
    ray_tmpdir: str

    @property
    def exp(self) -> Path:
        return self.storage / "old"

    def study(self) -> list[optuna.trial.FrozenTrial]:
        return optuna.load_study(study_name="old", storage=f"sqlite:///{self.exp / 'study.db'}").get_trials()


@pytest.fixture(scope="module")
def old(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Old]:
    """A finished tiny search (2 trials, 1 confirmation re-run) from before signed state."""
    root = tmp_path_factory.mktemp("signed")
    ray_tmpdir = tempfile.mkdtemp(prefix="ftray-", dir="/tmp")
    made = Old(tiny_space(root / "old.yaml", "old", num_samples=2, confirm=1), root / "out", ray_tmpdir)
    search_run(made.space, made.storage, ray_tmpdir=ray_tmpdir, script=UNSIGNED)
    assert (made.exp / "tuner.pkl").is_file() and not (made.exp / MANIFEST).exists()
    assert (made.exp / "confirm" / "tuner.pkl").is_file()
    yield made
    shutil.rmtree(ray_tmpdir, ignore_errors=True)


def _copy(old: Old, to: Path) -> Path:
    """The experiment copied to the storage path ``to`` (its name kept); returns ``to``."""
    shutil.copytree(old.exp, to / old.exp.name, symlinks=True)
    return to


def _one_error_line(stderr: str, *needles: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(n in errors[0] for n in needles), stderr[-3000:]
    return errors[0]


@pytest.mark.slow
def test_state_from_before_signing_is_refused_without_trust(old: Old, tmp_path: Path) -> None:
    storage = _copy(old, tmp_path)
    proc = search_run(old.space, storage, "--resume", ray_tmpdir=old.ray_tmpdir, expect=2)
    _one_error_line(proc.stderr, f"{storage / 'old'}: its state is not signed", "--trust-unsigned")
    assert not (storage / "old" / MANIFEST).exists()
    proc = search_run(old.space, storage, "--trust-unsigned", ray_tmpdir=old.ray_tmpdir, expect=2)
    _one_error_line(proc.stderr, "pass --resume too")


@pytest.fixture(scope="module")
def trusted(old: Old) -> Old:
    """The old search resumed once with --trust-unsigned, grown to 3 trials; then resumed without it."""
    before = old.study()
    proc = search_run(old.space, old.storage, "--resume", "--trust-unsigned", "--num-samples", "3",
                      ray_tmpdir=old.ray_tmpdir)
    assert f"--trust-unsigned: signed 8 state file(s) of {old.exp} that had no signature" in proc.stdout
    after = old.study()
    assert len(after) == 3 and [t.params for t in after[:2]] == [t.params for t in before]
    search_run(old.space, old.storage, "--resume", ray_tmpdir=old.ray_tmpdir)
    return old


@pytest.mark.slow
def test_trusted_once_the_experiment_is_signed_and_resumes_as_before(trusted: Old) -> None:
    exp = trusted.exp
    assert (exp / MANIFEST).is_file() and (exp / "confirm" / MANIFEST).is_file()
    trials = trusted.study()
    assert len(trials) == 3 and len({json.dumps(t.params, sort_keys=True) for t in trials}) == 3
    table = pd.read_csv(exp / "results.csv")
    assert (table["stage"] == "search").sum() == 3 and table["status"].isin(["TERMINATED", "STOPPED"]).all()
    # The sessions the resumed runs saved (each its own experiment_state file) are all signed.
    assert len(list(exp.glob("experiment_state-*.json"))) == 3


def _replace(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(Payload(marker)))


def _plant_experiment_state(exp: Path, marker: Path) -> Path:
    """A newer experiment state than any (Tune reads the newest) whose trial record is a cloudpickled payload."""
    path = exp / "experiment_state-2099-01-01_00-00-00.json"
    payload = {"_type": "CLOUDPICKLE_FALLBACK", "value": pickle.dumps(Payload(marker)).hex()}
    path.write_text(json.dumps({"trial_data": [[payload, "{}"]], "runner_data": payload, "stats": {}}))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("target", ["tuner.pkl", "confirm/tuner.pkl", "searcher-state", "search_gen_state",
                                    "planted"])
def test_replaced_or_planted_state_runs_nothing(trusted: Old, tmp_path: Path, target: str) -> None:
    storage = _copy(trusted, tmp_path / "out")
    exp, marker = storage / "old", tmp_path / "pwned"
    if target == "planted":
        path = _plant_experiment_state(exp, marker)
        problem = "has no signature"
    else:
        path = exp / target if target.endswith(".pkl") else max(exp.glob(f"{target}-*"))
        _replace(path, marker)
        problem = "does not match its signature"
    # --num-samples: the growth reads search_gen_state before Tune does; it is checked there too.
    proc = search_run(trusted.space, storage, "--resume", "--num-samples", "5", ray_tmpdir=trusted.ray_tmpdir,
                      expect=2)
    _one_error_line(proc.stderr, f"error: {path}: {problem}")
    assert not marker.exists()
    # Trust is for files without a signature, never for one that does not match it (every file: test_signing.py).
    if target == "tuner.pkl":
        proc = search_run(trusted.space, storage, "--resume", "--trust-unsigned", ray_tmpdir=trusted.ray_tmpdir,
                          expect=2)
        _one_error_line(proc.stderr, f"error: {path}: {problem}")
        assert not marker.exists()
