"""Signed experiment state (search.experiment.signing): the key, the manifest, what is checked and what is refused.

Experiment folders here are laid out by hand with Tune's file names (the end-to-end tests run real searches:
tests/faults/test_signed_resume.py); keys are real files.
"""

from __future__ import annotations

import os
import pickle
import stat
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from search.experiment import signing
from search.experiment.signing import (
    KEEP,
    KEY_ENV,
    MANIFEST,
    StateSignatureError,
    StateSigner,
    key_file,
    load_key,
    state_files,
    storage_of,
    verify_state,
)

STATE = [
    "confirm/tuner.pkl",
    "confirm/experiment_state-2026-01-02_00-00-00.json",
    "experiment_state-2026-01-01_00-00-00.json",
    "search_gen_state-2026-01-01_00-00-00.json",
    "searcher-state-2026-01-01_00-00-00.pkl",
    "t001_ab/error.pkl",
    "tuner.pkl",
]
NOT_STATE = [
    "results.csv",
    "study.db",
    "t001_ab/params.pkl",  # Tune writes it, never reads it
    "t001_ab/result.json",
    "t001_ab/checkpoint_000001/model.pth",
    "tmp-search_gen_state-2026-01-01_00-00-00.json",  # Tune's temporary name, left by a copy made mid-save
    "best/metrics.json",
]


def _experiment(root: Path) -> Path:
    """A folder with Tune's state file names (and others), each holding its own name as bytes."""
    for name in STATE + NOT_STATE:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())
    return root


def _signed(root: Path) -> Path:
    verify_state(str(_experiment(root)), trust_unsigned=True)
    return root


def test_state_files_are_what_tune_restores_from(tmp_path: Path) -> None:
    fs, root = storage_of(str(_experiment(tmp_path)))
    names, nested = state_files(fs, root)
    assert names == sorted(n for n in STATE if not n.startswith("confirm/"))
    assert nested == ["confirm"]
    assert state_files(fs, f"{root}/confirm")[0] == ["experiment_state-2026-01-02_00-00-00.json", "tuner.pkl"]


def test_a_signed_experiment_verifies_and_other_files_may_change(tmp_path: Path) -> None:
    exp = _signed(tmp_path)
    assert (exp / MANIFEST).is_file() and (exp / "confirm" / MANIFEST).is_file()
    for name in NOT_STATE:
        (exp / name).write_bytes(b"changed")
    assert verify_state(str(exp)) == []


@pytest.mark.parametrize("name", STATE)
def test_a_replaced_state_file_is_refused_by_name(tmp_path: Path, name: str) -> None:
    exp = _signed(tmp_path)
    (exp / name).write_bytes(pickle.dumps({"replaced": True}))
    for trust in (False, True):  # --trust-unsigned never accepts a file that does not match its signature
        with pytest.raises(StateSignatureError) as err:
            verify_state(str(exp), trust_unsigned=trust)
        message = str(err.value)
        assert message.startswith(f"{exp}/{name}: does not match its signature in "), message
        assert "\n" not in message and str(key_file()) in message


def test_a_planted_state_file_is_refused(tmp_path: Path) -> None:
    exp = _signed(tmp_path)
    (exp / "experiment_state-2099-01-01_00-00-00.json").write_text("{}")  # newer: Tune would read it first
    with pytest.raises(StateSignatureError, match=r"experiment_state-2099-01-01_00-00-00\.json: has no signature"):
        verify_state(str(exp))


def test_an_unsigned_experiment_resumes_only_when_trusted_and_is_signed_then(tmp_path: Path) -> None:
    exp = _experiment(tmp_path)
    with pytest.raises(StateSignatureError) as err:
        verify_state(str(exp))
    assert str(err.value).startswith(f"{exp}: its state is not signed ({MANIFEST} is missing")
    assert "--trust-unsigned" in str(err.value) and not (exp / MANIFEST).exists()

    signed = verify_state(str(exp), trust_unsigned=True)
    assert sorted(signed) == sorted(f"{exp}/{n}" for n in STATE)
    assert verify_state(str(exp)) == []
    (exp / "tuner.pkl").write_bytes(b"replaced after trust")
    with pytest.raises(StateSignatureError, match="tuner.pkl: does not match"):
        verify_state(str(exp))


def test_an_unsigned_nested_experiment_is_refused(tmp_path: Path) -> None:
    exp = _signed(tmp_path)
    (exp / "confirm" / MANIFEST).unlink()
    with pytest.raises(StateSignatureError, match=r"confirm/experiment_state-.*: has no signature .*\(and 1 more\)"):
        verify_state(str(exp))


def test_another_key_is_a_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exp = _signed(tmp_path / "exp")
    other = tmp_path / "other.key"
    other.write_text(os.urandom(32).hex())
    other.chmod(0o600)
    monkeypatch.setenv(KEY_ENV, str(other))
    with pytest.raises(StateSignatureError, match=f"signed with another key than {other}"):
        verify_state(str(exp))


def test_a_bad_manifest_is_one_line(tmp_path: Path) -> None:
    exp = _signed(tmp_path)
    (exp / MANIFEST).write_text('{"version": 1, "files": {"tuner.pkl": "not a list"}}')
    with pytest.raises(StateSignatureError, match=f"^{exp}/{MANIFEST}: not a signature manifest"):
        verify_state(str(exp))


def test_the_manifest_keeps_the_last_versions_only(tmp_path: Path) -> None:
    exp = _signed(tmp_path)
    path = str(exp / "experiment_state-2026-01-01_00-00-00.json")
    versions = [f"save {i}".encode() for i in range(KEEP + 1)]
    fs, root = storage_of(str(exp))
    for data in versions:  # as StateSigner signs each save Tune makes
        signing._sign(fs, root, str(exp), {Path(path).name: data}, load_key())
        Path(path).write_bytes(data)
    Path(path).write_bytes(versions[1])  # KEEP saves ago: still accepted
    assert verify_state(str(exp)) == []
    Path(path).write_bytes(versions[0])
    with pytest.raises(StateSignatureError, match="does not match"):
        verify_state(str(exp))


def test_uris_are_read_and_signed_through_their_filesystem(tmp_path: Path) -> None:
    exp = _experiment(tmp_path)
    uri = f"file://{exp}"
    assert len(verify_state(uri, trust_unsigned=True)) == len(STATE)
    assert verify_state(uri) == []
    (exp / "tuner.pkl").write_bytes(b"replaced")
    with pytest.raises(StateSignatureError, match=f"^{uri}/tuner.pkl: does not match"):
        verify_state(uri)


def test_the_default_key_is_made_on_first_use_for_the_owner_only(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(StateSignatureError, match="no signing key at"):
        load_key()  # checking never makes one
    key = load_key(create=True)
    path = tmp_path / ".config" / "fashion-tune" / "state.key"
    assert key_file() == path and len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_key() == key == load_key(create=True)
    assert [p.name for p in path.parent.iterdir()] == ["state.key"]  # no temporary file left


def test_a_key_named_by_the_environment_is_never_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "cluster.key"))
    with pytest.raises(StateSignatureError, match=f"no signing key at {tmp_path / 'cluster.key'}, which {KEY_ENV}"):
        load_key(create=True)
    assert not (tmp_path / "cluster.key").exists()


# Fixed keys, not random ones: the test ids must be the same in every pytest-xdist process.
@pytest.mark.parametrize(("mode", "text", "problem"), [
    (0o644, "ab" * 32, "readable or writable by others"),
    (0o600, "not hex", "expected 64 or more hex digits"),
    (0o600, "ab" * 8, "expected 64 or more hex digits"),
], ids=["open-mode", "not-hex", "short"])
def test_a_bad_key_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int, text: str,
                                    problem: str) -> None:
    path = tmp_path / "state.key"
    path.write_text(text)
    path.chmod(mode)
    monkeypatch.setenv(KEY_ENV, str(path))
    with pytest.raises(StateSignatureError, match=f"^signing key {path}: {problem}"):
        load_key()


def test_the_signer_pickles_without_what_it_holds() -> None:
    signer = StateSigner()
    signer._trials = ["a trial"]  # type: ignore[list-item]
    signer._manifest = signing.Manifest({"tuner.pkl": ["0" * 64]})
    restored = pickle.loads(pickle.dumps(signer))
    assert restored._trials == [] and restored._manifest is None


@pytest.mark.slow  # starts Ray
def test_tune_runs_sign_every_save_and_a_restored_run_signs_its_own(tmp_path: Path, ray_tmpdir: str) -> None:
    """Real Tune, a plain function trainable: one trial reports, one raises (its error.pkl is state too)."""
    import ray
    from ray import tune

    from search.experiment import signed_tuner

    def trainable(config: dict[str, int]) -> None:
        for step in range(3):
            tune.report({"x": step})
        if config["fail"]:
            raise ValueError("this trial fails")

    exp = tmp_path / "out" / "exp"
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, _temp_dir=ray_tmpdir)
    try:
        signed_tuner(
            trainable,
            param_space={"fail": tune.grid_search([0, 1])},
            tune_config=tune.TuneConfig(metric="x", mode="max"),
            run_config=tune.RunConfig(name="exp", storage_path=str(tmp_path / "out"), verbose=0),
        ).fit()
        fs, root = storage_of(str(exp))
        names, _ = state_files(fs, root)
        assert any(n.endswith("/error.pkl") for n in names) and any(n.startswith("experiment_state-") for n in names)
        assert verify_state(str(exp)) == []
        tune.Tuner.restore(str(exp), trainable=trainable, restart_errored=True).fit()
        # The restored run wrote a second session's state, signed by the signer pickled with the Tuner.
        assert len(list(exp.glob("experiment_state-*.json"))) == 2
        assert verify_state(str(exp)) == []
        time.sleep(1)  # session names are timestamps in seconds
        tune.Tuner.restore(str(exp), trainable=trainable).fit()  # nothing left to run: a save without a step
    finally:
        ray.shutdown()
    assert len(list(exp.glob("experiment_state-*.json"))) == 3
    assert verify_state(str(exp)) == []
    (next(exp.glob("*/error.pkl"))).write_bytes(pickle.dumps(ValueError("replaced")))
    with pytest.raises(StateSignatureError, match="error.pkl: does not match"):
        verify_state(str(exp))


def test_trust_gives_a_tuner_from_before_signing_the_signer(tmp_path: Path) -> None:
    """A restored Tuner runs with the callbacks pickled with it: an old one gets the signer, or it would save
    unsigned state at every resume."""
    import ray.cloudpickle as cloudpickle
    from ray import tune

    exp = _experiment(tmp_path)
    (exp / "tuner.pkl").write_bytes(cloudpickle.dumps({"_run_config": tune.RunConfig(callbacks=[]), "x": 1}))
    verify_state(str(exp), trust_unsigned=True)
    state = cloudpickle.loads((exp / "tuner.pkl").read_bytes())
    assert state["x"] == 1 and [type(c) for c in state["_run_config"].callbacks] == [StateSigner]
    assert verify_state(str(exp)) == []
    upgraded = (exp / "tuner.pkl").read_bytes()
    assert verify_state(str(exp), trust_unsigned=True) == [] and (exp / "tuner.pkl").read_bytes() == upgraded
