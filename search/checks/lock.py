"""One search per experiment folder at a time: an exclusive lock file, so a second ``search.run`` with
the same ``--name`` stops at once instead of interleaving its trials and results with the first's.

``fcntl.flock`` is released by the kernel when the process ends, however it ends (SIGKILL included),
so a crashed search never leaves a stale lock. Remote storage (``s3://``) has no such lock: there,
running one search per name is up to the user (docs/what-survives-what.md).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

__all__ = ["LOCK_FILE", "ExperimentLockedError", "lock_experiment"]

LOCK_FILE = ".search.lock"
# The open lock files of this process, by experiment: the lock lives as long as its file stays open.
_held: dict[str, IO[str]] = {}


class ExperimentLockedError(RuntimeError):
    """Another process runs a search in this experiment folder, or the folder cannot be made."""


def lock_experiment(experiment_path: str) -> Path | None:
    """Create ``experiment_path`` and hold its lock until the process exits; None for remote storage.

    Raises:
        ExperimentLockedError: another live process holds the lock (one line naming the folder and its pid),
            or the folder cannot be created (e.g. ``--storage-path`` names a file).
    """
    if "://" in experiment_path:
        return None
    folder = Path(experiment_path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ExperimentLockedError(
            f"cannot use {folder} as the experiment folder: {exc.filename or folder} is a file, not a folder"
        ) from None
    except OSError as exc:
        raise ExperimentLockedError(f"cannot create the experiment folder {folder}: {exc.strerror}") from None
    path = folder / LOCK_FILE
    if str(folder) in _held:
        return path
    handle = open(path, "a+")  # noqa: SIM115 (kept open on purpose: the lock lasts while it is open)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise ExperimentLockedError(
            f"another search is running in {folder} (pid {owner}); wait for it to end, or pass another --name"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _held[str(folder)] = handle
    return path
