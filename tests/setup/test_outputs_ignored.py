"""What the commands write is git-ignored (so ``git status`` stays clean and ``ray up``, which copies the checkout
without what .gitignore skips, does not upload it), and nothing the repository tracks is."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

if shutil.which("git") is None or not (REPO / ".git").exists():
    pytest.skip("not a git checkout", allow_module_level=True)


def _ignored(paths: list[str]) -> set[str]:
    proc = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=REPO, capture_output=True, text=True)
    return set(proc.stdout.split())


def test_every_output_folder_of_the_docs_and_the_tools_defaults_is_ignored() -> None:
    table = (REPO / "docs" / "install.md").read_text()
    documented = re.findall(r"^\| `(output/[^`]*)`", table, re.M)
    assert len(documented) >= 8, documented  # the table was found
    paths = [p.replace("<name>", "smoke").replace("<trial>", "t001_abc").replace("checkpoint_*", "checkpoint_000001")
             .rstrip("/") + "/x" for p in documented]
    paths += ["runs/Dec07_10-00-00/events.out.tfevents.1.host", "ray_results/x", "study.db",
              ".venv/bin/python", "fashion_core/data/_kernels.c"]
    assert _ignored(paths) == set(paths)


def test_nothing_tracked_is_ignored() -> None:
    proc = subprocess.run(["git", "ls-files", "--cached", "--ignored", "--exclude-standard"], cwd=REPO,
                          capture_output=True, text=True, check=True)
    assert proc.stdout == "", proc.stdout
