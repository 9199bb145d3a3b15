"""search.experiment.record: the study an experiment records, relative to its folder, and what --resume of a moved
or copied folder uses (real SQLite studies; the end to end runs: test_moved_e2e.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest

from search.experiment import (
    RECORD_FILE,
    Record,
    RecordError,
    StudyChoice,
    new_study,
    read_record,
    record_of,
    resumed_study,
    write_record,
)
from search.study import default_storage_url, open_storage


def _experiment(folder: Path, study: str = "exp", given: str | None = None) -> Record:
    """A folder whose search started with the study ``given`` (default: its own), as search.run records it."""
    choice = new_study(folder, given, study)
    optuna.create_study(study_name=study, storage=open_storage(choice.url))
    record = record_of(folder, choice, num_samples=4)
    write_record(folder, record)
    return record


def test_the_default_study_is_recorded_as_the_folders_own(tmp_path: Path) -> None:
    record = _experiment(tmp_path / "exp")
    assert record == Record("study.db", "exp", 4, str((tmp_path / "exp").resolve()))
    assert read_record(tmp_path / "exp") == record
    # Only the folder's own path (to tell a move) names a place; the study is the folder's own, not a path.
    assert str(tmp_path) not in (tmp_path / "exp" / RECORD_FILE).read_text().split('"folder"')[0]
    # Given explicitly, the folder's own study.db is its own too.
    own = StudyChoice(default_storage_url(tmp_path / "exp"), "exp")
    assert record_of(tmp_path / "exp", own, 4).storage == "study.db"


def test_a_copy_goes_on_in_its_own_study_and_says_so(tmp_path: Path) -> None:
    _experiment(tmp_path / "exp")
    shutil.copytree(tmp_path / "exp", tmp_path / "copy")
    choice = resumed_study(tmp_path / "copy", read_record(tmp_path / "copy"), None, "--storage-url", "copy")
    # Its own study.db, with the study's name (not the copy's --name).
    assert (choice.url, choice.name) == (default_storage_url(tmp_path / "copy"), "exp")
    assert choice.note == (f"{tmp_path / 'copy'} was started at {tmp_path / 'exp'}: it goes on in its own study.db "
                           f"(study 'exp') and folder; nothing in {tmp_path / 'exp'} is read or written")
    # Where it started: no note.
    assert resumed_study(tmp_path / "exp", read_record(tmp_path / "exp"), None, "--storage-url", "exp").note == ""


def test_a_resume_that_names_another_study_is_one_line(tmp_path: Path) -> None:
    _experiment(tmp_path / "exp")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with pytest.raises(RecordError, match=r"keeps its study in its own study.db \(search.json\); --storage-url names "
                       r"sqlite:///.*other.db: leave it out"):
        resumed_study(tmp_path / "exp", read_record(tmp_path / "exp"), other, "--storage-url", "exp")
    (tmp_path / "exp" / "study.db").unlink()
    with pytest.raises(RecordError, match="has no study.db, which holds its study"):
        resumed_study(tmp_path / "exp", read_record(tmp_path / "exp"), None, "--storage-url", "exp")


def test_a_study_outside_the_folder_is_a_choice_once_the_folder_moved(tmp_path: Path) -> None:
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    _experiment(tmp_path / "exp", given=shared)
    record = read_record(tmp_path / "exp")
    assert record is not None and record.storage == shared
    # Where it started, it goes on there; given again, too.
    assert resumed_study(tmp_path / "exp", record, None, "--storage-url", "exp") == StudyChoice(shared, "exp")
    assert resumed_study(tmp_path / "exp", record, shared, "--storage-url", "exp") == StudyChoice(shared, "exp")
    shutil.copytree(tmp_path / "exp", tmp_path / "copy")
    with pytest.raises(RecordError, match=r"copy was started at .*exp, with the study sqlite:///.*shared.db \(study "
                       r"'exp'\), which that folder's search uses too: pass --storage-url sqlite:///.*shared.db"):
        resumed_study(tmp_path / "copy", read_record(tmp_path / "copy"), None, "--storage-url", "copy")
    given = resumed_study(tmp_path / "copy", read_record(tmp_path / "copy"), shared, "--storage-url", "copy")
    assert given == StudyChoice(shared, "exp")
    with pytest.raises(RecordError, match=r"the study of .* is sqlite:///.*shared.db .*; --storage-url names "):
        resumed_study(tmp_path / "copy", read_record(tmp_path / "copy"), f"sqlite:///{tmp_path / 'x.db'}",
                      "--storage-url", "copy")


def test_a_recorded_password_is_hidden_and_asked_for(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    url = "postgresql://search:s3cret@db.example:5432/fashion"
    record = record_of(folder, StudyChoice(url, "exp"), 4)
    write_record(folder, record)
    assert "s3cret" not in (folder / RECORD_FILE).read_text() and record.storage.startswith("postgresql://search:***@")
    with pytest.raises(RecordError, match=r"its password is not recorded\): pass --storage-url with it"):
        resumed_study(folder, read_record(folder), None, "--storage-url", "exp")


def test_an_experiment_from_before_the_record_resumes_with_its_only_study(tmp_path: Path) -> None:
    optuna.create_study(study_name="exp", storage=open_storage(default_storage_url(tmp_path / "copy")))
    choice = resumed_study(tmp_path / "copy", None, None, "--storage-url", "copy")
    assert choice.name == "exp" and "holds the study 'exp', not 'copy'" in choice.note
    assert resumed_study(tmp_path / "copy", None, None, "--storage-url", "exp") == StudyChoice(
        default_storage_url(tmp_path / "copy"), "exp")
    with pytest.raises(RecordError, match="no study.db: pass --storage-url"):
        resumed_study(tmp_path / "none", None, None, "--storage-url", "none")


@pytest.mark.parametrize(("text", "why"), [
    ("{", "not JSON"),
    ("[]", "expected a JSON object, got list"),
    ('{"storage": "study.db", "study": "exp", "num_samples": "4", "folder": "/x"}',
     "num_samples: expected a whole number, got '4'"),
    ('{"storage": "study.db", "study": "", "num_samples": 4, "folder": "/x"}', "study: expected a non-empty string"),
    ('{"storage": "study.db", "study": "exp", "num_samples": 0, "folder": "/x"}', "num_samples: expected at least 1"),
])
def test_a_bad_record_is_one_line_naming_it(tmp_path: Path, text: str, why: str) -> None:
    (tmp_path / RECORD_FILE).write_text(text)
    with pytest.raises(RecordError, match=f"{RECORD_FILE}: {why}"):
        read_record(tmp_path)
