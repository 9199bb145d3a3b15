"""Issue 13 items 6, 11, 12 (space and CLI parts) and 13: ``search.run`` refuses bad input and busy or
unreachable targets at once, with one line and exit 2, before Ray starts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from search.run import main
from search.space import MAX_CHOICES, SpaceError, load_space

REPO = Path(__file__).resolve().parents[2]
TINY = {"experiment": {"name": "tiny", "num_samples": 1}, "data": {"images": 4, "size": 64},
        "params": {"lr": {"key": "SOLVER.BASE_LR", "type": "choice", "values": [0.01]}}}


def _space(tmp_path: Path, content: object = None) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(TINY if content is None else content))
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err.splitlines()[-1] if err else ""


def test_second_search_with_the_same_name_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Item 6: the first search holds the experiment folder's lock; the second stops with one line."""
    storage = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from search.checks import lock_experiment; "
         f"lock_experiment({str(storage / 'tiny')!r}); print('locked', flush=True); time.sleep(60)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        code, line = _run(capsys, "--space", str(_space(tmp_path)), "--storage-path", str(storage))
        assert code == 2 and "another search is running in" in line and f"pid {holder.pid}" in line, line
    finally:
        holder.kill()
        holder.wait()


def test_storage_path_naming_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("x")
    code, line = _run(capsys, "--space", str(_space(tmp_path)), "--storage-path", str(tmp_path / "afile"))
    assert code == 2 and "is a file, not a folder" in line, line


def test_empty_name_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, line = _run(capsys, "--space", str(_space(tmp_path)), "--name", "", "--storage-path", str(tmp_path))
    assert code == 2 and "experiment.name" in line, line


def test_unreachable_address_fails_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Item 11: Ray alone retries for minutes and ignores Ctrl-C."""
    start = time.monotonic()
    code, line = _run(capsys, "--space", str(_space(tmp_path)), "--storage-path", str(tmp_path / "out"),
                      "--address", "127.0.0.1:1")
    assert code == 2 and "no Ray cluster answers at 127.0.0.1:1" in line, line
    assert time.monotonic() - start < 60


def test_huge_space_files_and_choices_are_refused_quickly(tmp_path: Path) -> None:
    """Item 11: a 10-million-value choice took 326 s and 7.7 GB before it was accepted."""
    big = tmp_path / "big.yaml"
    values = ", ".join(str(i) for i in range(400_000))  # ~3 MB
    big.write_text(f"params:\n  x:\n    key: SOLVER.BASE_LR\n    type: choice\n    values: [{values}]\n")
    start = time.monotonic()
    with pytest.raises(SpaceError, match=r"big\.yaml: space file is \d+ bytes, more than the 1048576"):
        load_space(big)
    many = {**TINY, "params": {"x": {"key": "SOLVER.BASE_LR", "type": "choice", "values": list(range(2000))}}}
    with pytest.raises(SpaceError, match=rf"params\.x\.values: 2000 values; a choice may list at most {MAX_CHOICES}"):
        load_space(_space(tmp_path, many))
    assert time.monotonic() - start < 10


def test_duplicate_keys_and_non_utf8_space_files_are_one_line(tmp_path: Path) -> None:
    """Item 12 / 10: the second key silently replaced the first; a non-UTF-8 file gave a traceback."""
    dup = tmp_path / "dup.yaml"
    dup.write_text("experiment:\n  name: a\nexperiment:\n  name: b\n")
    with pytest.raises(SpaceError, match=r"dup\.yaml: not valid YAML \(line 3\): duplicate key 'experiment'"):
        load_space(dup)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("experiment:\n  name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpaceError, match=r"latin\.yaml: space file is not UTF-8 text"):
        load_space(latin)
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SpaceError, match=r"deep\.yaml: "):
        load_space(deep)


def test_bad_config_in_a_space_fails_before_ray(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Item 1 / 7 through a space: a config with code, or an unknown key, fails once in the driver."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f'_BASE_: "tiny_cpu.yaml"\nSEED: !!python/object/apply:os.system ["touch {marker}"]\n')
    space = _space(tmp_path, {**TINY, "train": {"config": str(evil)}})
    code, line = _run(capsys, "--space", str(space), "--storage-path", str(tmp_path / "out"))
    assert code == 2 and "evil.yaml" in line and "python/object/apply" in line, line
    assert not marker.exists()
    space = _space(tmp_path, {**TINY, "train": {"opts": {"SOLVER.BASE_LRR": 0.1}}})
    code, line = _run(capsys, "--space", str(space), "--storage-path", str(tmp_path / "out2"))
    assert code == 2 and "unknown config key SOLVER.BASE_LRR" in line, line


@pytest.mark.slow
def test_local_ray_runs_no_dashboard_and_requires_a_token(ray_tmpdir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 13: what init_ray promises for a local Ray (docs/security.md): no dashboard, no Ray Client
    server, and token authentication on every gRPC port (which Ray 2.60 binds to all interfaces)."""
    ray = pytest.importorskip("ray")
    from ray._private.authentication.authentication_utils import is_token_auth_enabled
    from ray._private.worker import global_worker

    from search.checks import init_ray

    monkeypatch.setenv("RAY_TMPDIR", ray_tmpdir)
    init_ray(None)
    try:
        assert is_token_auth_enabled()
        info = global_worker.node.address_info
        assert not info.get("webui_url"), info
    finally:
        ray.shutdown()
