"""Where an experiment lives: a local folder or a URI (``s3://``, ``gs://``, any pyarrow filesystem), and where
the tables a person reads go.

The one place that tells local storage from remote storage for the command line (``search/run.py``): a local
experiment is locked, removed again after a failed start, and holds its own tables; a remote one has no lock,
keeps the parsed-data cache on each node's disk, and its tables go to a local folder named after the URI.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fashion_core.data import DatasetSpec
    from search.space import SearchSpec

logger = logging.getLogger(__name__)


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URI (``s3://bucket/...``) rather than a local path."""
    return "://" in path


def experiment_path(storage_path: str, name: str) -> str:
    """``storage_path/name`` for local paths and URIs alike."""
    if is_remote(storage_path):
        return storage_path.rstrip("/") + "/" + name
    return str(Path(storage_path).resolve() / name)


@dataclass(frozen=True)
class ExperimentLocation:
    """An experiment's place.

    Attributes:
        storage: ``--storage-path``: a URI as given, or a local folder made absolute.
        name: the experiment's name (its folder under ``storage``).
    """

    storage: str
    name: str

    @classmethod
    def of(cls, storage_path: str, name: str) -> ExperimentLocation:
        storage = storage_path if is_remote(storage_path) else str(Path(storage_path).resolve())
        return cls(storage, name)

    @property
    def path(self) -> str:
        """The experiment folder: Tune's state, one folder per trial (``storage/name``)."""
        return experiment_path(self.storage, self.name)

    @property
    def remote(self) -> bool:
        return is_remote(self.storage)

    @property
    def local_out(self) -> Path:
        """Where ``results.csv``, ``best/``, ``summary.md`` and the plots go: the experiment folder, or with remote
        storage a local folder named after the URI (``s3://bucket/runs`` -> ``bucket_runs/<name>``)."""
        if self.remote:
            return Path(self.storage.split("://", 1)[1].replace("/", "_")) / self.name
        return Path(self.path)

    @property
    def fresh(self) -> bool:
        """A local experiment folder that does not exist yet (this run will create it)."""
        return not self.remote and not Path(self.path).exists()

    def has_experiment(self) -> bool:
        """Whether the place holds an experiment to keep: Tune's state with at least one trial report (locally).

        A start that failed before any trial reported (an earlier version without these checks, a crash at
        start-up) leaves Tune's state and nothing of value; it must not block starting again under the same name.
        """
        from ray import tune

        if not self.remote and not Path(self.path).exists():
            return False
        if not tune.Tuner.can_restore(self.path):
            return False
        if self.remote:
            return True
        reported = any(f.stat().st_size > 0 for f in Path(self.path).glob("*/result.json"))
        if not reported:
            logger.info("%s holds an experiment without any report (a failed start); starting over", self.path)
        return reported

    @property
    def fresh_storage(self) -> bool:
        """A local ``--storage-path`` that does not exist yet (this run will create it)."""
        return not self.remote and not Path(self.storage).exists()

    @contextlib.contextmanager
    def removed_on_failed_start(self, fresh: bool, fresh_storage: bool = False) -> Iterator[None]:
        """Remove the local experiment folder when the block fails and this run created the folder (``fresh``; no
        trial ran there yet, so nothing is lost): a corrected command can reuse the name. With ``fresh_storage``
        (this run created ``--storage-path`` too), the storage folder as well when nothing else is in it: a
        refused command leaves no trace."""
        try:
            yield
        except BaseException:
            if fresh and Path(self.path).exists():
                shutil.rmtree(self.path, ignore_errors=True)
            storage = Path(self.storage)
            if fresh and fresh_storage and storage.is_dir() and not any(storage.iterdir()):
                storage.rmdir()
            raise


def prepare_data(spec: SearchSpec, location: ExperimentLocation, data: str | None, images: str | None) -> DatasetSpec:
    """The space's data (or ``data``, from ``--data``), generated or parsed once here in the driver, so bad data
    fails before Ray starts and every trial reads the parsed cache. Synthetic data is generated into the (local)
    experiment folder; with remote storage the parsed-CSV cache stays on each node's own disk."""
    from fashion_core.engine.datasets import prepare_dataset

    d = spec.data
    return prepare_dataset(
        data or d.path,
        synthetic_root=Path(location.path) / "data",
        cache_dir=Path.home() / ".cache" / "fashion-tune" if location.remote else None,
        images=images,
        synthetic_images=d.images,
        synthetic_size=d.size,
        val_fraction=d.val_fraction,
        max_images=d.max_images,
        seed=d.seed,
    )
