"""A truncated or corrupt latest checkpoint falls back to the previous one, with a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

pytest.importorskip("ray")

from ray import tune

from fashion_core.trainable import checkpoint_problem, restore_checkpoint


def _write(folder: Path, iteration: int) -> Path:
    folder.mkdir(parents=True)
    torch.save({"model": {"w": torch.full((2,), float(iteration))}, "iteration": iteration}, folder / "model.pth")
    (folder / "last_checkpoint").write_text("model.pth")
    return folder


def test_corrupt_latest_checkpoint_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    trial = tmp_path / "trial"
    _write(trial / "checkpoint_000000", 4)
    _write(trial / "checkpoint_000001", 9)
    latest = _write(trial / "checkpoint_000002", 14)
    data = (latest / "model.pth").read_bytes()
    (latest / "model.pth").write_bytes(data[: len(data) // 2])  # truncated, as by a killed writer
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert restore_checkpoint(tune.Checkpoint.from_directory(str(latest)), trial, out)
    state = torch.load(out / "model.pth", weights_only=True)
    assert state["iteration"] == 9
    assert "unreadable" in caplog.text and "checkpoint_000001" in caplog.text


def test_fallback_looks_beside_the_checkpoint_not_in_tunes_local_folder(tmp_path: Path) -> None:
    """Issue 13 item 5: in a real search the trial folder Tune names is not the storage folder."""
    storage = tmp_path / "storage" / "trial"
    _write(storage / "checkpoint_000000", 4)
    latest = _write(storage / "checkpoint_000001", 9)
    _write(storage / "checkpoint_000002", 14)  # written, but its report was cut off: newer than Tune's
    (latest / "model.pth").write_bytes(b"truncated")
    local = tmp_path / "ray_local" / "trial"  # what tune.get_context().get_trial_dir() returns
    local.mkdir(parents=True)
    out = tmp_path / "out"
    assert restore_checkpoint(tune.Checkpoint.from_directory(str(latest)), local, out)
    assert torch.load(out / "model.pth", weights_only=True)["iteration"] == 4


def test_no_readable_checkpoint_starts_over(tmp_path: Path) -> None:
    trial = tmp_path / "trial"
    latest = _write(trial / "checkpoint_000000", 4)
    (latest / "model.pth").write_bytes(b"not a checkpoint")
    assert not restore_checkpoint(tune.Checkpoint.from_directory(str(latest)), trial, tmp_path / "out")
    assert not restore_checkpoint(None, trial, tmp_path / "out")


def test_checkpoint_loading_is_weights_only(tmp_path: Path) -> None:
    """A pickle that would run code on load is refused, not executed."""

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (tmp_path / "pwned",))

    torch.save({"model": Evil()}, tmp_path / "model.pth")
    problem = checkpoint_problem(tmp_path / "model.pth")
    assert problem is not None and "cannot be read" in problem
    assert not (tmp_path / "pwned").exists()
