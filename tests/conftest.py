"""Shared fixtures: the real Fashionpedia sample (skipped when ../shared is absent) and CPU-only torch."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
FASHIONPEDIA_SAMPLE = SHARED_DATA / "fashionpedia_sample"

# Tests never use a GPU, even on a machine that has one: figures must not depend on it.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# search.experiment.signing.KEY_ENV (named here so that collecting tests imports no Ray).
STATE_KEY_ENV = "FASHION_TUNE_STATE_KEY_FILE"


# Folders whose test files share a session fixture that is expensive to build (tests/search/experiment/conftest.py:
# one tiny search, interrupted and resumed): their files run in one process, which builds it once.
SHARED_FIXTURE_FOLDERS = ("tests/search/experiment",)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The suite runs on two processes (pyproject.toml: ``-n 2 --dist loadfile``), a test file to one of them, so
    its module fixtures (a search that several tests inspect) are built once; the files of
    :data:`SHARED_FIXTURE_FOLDERS` go to one process together.

    A scheduler rather than ``xdist_group`` marks with ``--dist loadgroup``: pytest-xdist 3.8 groups by a suffix
    it writes into each item's ``_nodeid``, which pytest 9.2 no longer reads (``nodeid`` comes from ``_id``).
    """
    from xdist.scheduler import LoadFileScheduling

    class _Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return next((f for f in SHARED_FIXTURE_FOLDERS if path.startswith(f + "/")), path)

    return _Scheduling(config, log)


@pytest.fixture(scope="session")
def fashionpedia_sample() -> Path:
    """The real 2-image Fashionpedia sample shipped beside the project in ../shared/data."""
    if not (FASHIONPEDIA_SAMPLE / "sample.json").is_file():
        pytest.skip(f"real Fashionpedia sample not found at {FASHIONPEDIA_SAMPLE} (../shared is absent)")
    return FASHIONPEDIA_SAMPLE


@pytest.fixture(scope="session", autouse=True)
def state_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The key that signs experiment state in tests (and in the searches they run): the session's own, never the
    user's ``~/.config/fashion-tune/state.key``."""
    path = tmp_path_factory.mktemp("state-key") / "state.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(STATE_KEY_ENV, str(path))
        yield path


@pytest.fixture()
def ray_tmpdir() -> Iterator[str]:
    """A short, private folder for Ray's session files (Unix socket paths must stay under 107 bytes)."""
    path = tempfile.mkdtemp(prefix="ftray-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)
