"""Tiny searches for end-to-end tests: ``spaces/smoke.yaml`` at the smallest budget that still has ASHA rungs,
run as a user runs it (``python -m search.run`` in a subprocess), Ray's session files in a short private folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "spaces" / "smoke.yaml"


def tiny_space(path: Path, name: str, num_samples: int, confirm: int, lr_low: float | None = None) -> Path:
    """smoke.yaml at the smallest budget that still has ASHA rungs: 2 reports of 5 iterations, 12 images, with
    ``confirm`` best configs re-run once each; written to ``path``."""
    space = yaml.safe_load(SMOKE.read_text())
    e = space["experiment"]
    e.update(name=name, num_samples=num_samples, confirm={"top": confirm, "seeds": 1},
             asha={"max_t": 2, "grace_period": 1, "reduction_factor": 2})
    space["train"]["iters_per_report"] = 5
    space["data"]["images"] = 12
    if lr_low is not None:
        space["params"]["lr"]["low"] = lr_low
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


def search_run(space: Path, storage: Path, *args: str, ray_tmpdir: str, script: str | None = None,
               expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    """``python -m search.run --space space --storage-path storage *args`` (or ``python -c script`` with the
    same arguments); its exit code must be ``expect`` (None: any)."""
    entry = ["-m", "search.run"] if script is None else ["-c", script]
    cmd = [sys.executable, *entry, "--space", str(space), "--storage-path", str(storage), *args]
    env = {**os.environ, "RAY_TMPDIR": ray_tmpdir, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if expect is not None:
        assert proc.returncode == expect, f"exit {proc.returncode}\n" + proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc
