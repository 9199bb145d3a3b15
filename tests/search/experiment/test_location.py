"""Where an experiment lives (search/experiment/location.py): local folder or URI, and where its tables go."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.experiment import ExperimentLocation, experiment_path, is_remote


def test_local_storage_is_made_absolute_and_holds_its_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    place = ExperimentLocation.of("output/search", "smoke")
    assert not place.remote and place.storage == str(tmp_path / "output" / "search")
    assert place.path == str(tmp_path / "output" / "search" / "smoke") == experiment_path("output/search", "smoke")
    assert place.local_out == Path(place.path) and place.fresh
    Path(place.path).mkdir(parents=True)
    assert not place.fresh


def test_a_uri_stays_as_given_and_its_tables_go_to_a_local_folder_named_after_it() -> None:
    place = ExperimentLocation.of("s3://bucket/fashion-tune/", "full")
    assert place.remote and is_remote(place.path) and not is_remote("/data/s3:/x")
    assert place.path == "s3://bucket/fashion-tune/full"
    assert place.local_out == Path("bucket_fashion-tune_") / "full"
    assert not place.fresh  # nothing local to create, nothing to remove after a failed start


def test_a_failed_start_removes_only_a_folder_it_created(tmp_path: Path) -> None:
    place = ExperimentLocation.of(str(tmp_path), "new")
    with pytest.raises(RuntimeError), place.removed_on_failed_start(place.fresh):
        Path(place.path).mkdir()
        raise RuntimeError("bad data")
    assert not Path(place.path).exists()
    kept = ExperimentLocation.of(str(tmp_path), "kept")
    Path(kept.path).mkdir()
    with pytest.raises(RuntimeError), kept.removed_on_failed_start(kept.fresh):
        raise RuntimeError("bad data")
    assert Path(kept.path).is_dir()
