"""Shared fixtures: the real Fashionpedia sample (skipped when ../shared is absent) and CPU-only torch."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The suite runs on two processes (pyproject.toml: ``-n 2 --dist loadgroup``): each test file is one group,
    so a module's fixtures (a search that several tests inspect) are built once, in one process."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        path = item.path.relative_to(REPO_ROOT).as_posix()
        group = next((f for f in SHARED_FIXTURE_FOLDERS if path.startswith(f + "/")), path)
        item.add_marker(pytest.mark.xdist_group(group))


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
