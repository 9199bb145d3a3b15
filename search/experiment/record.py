"""What ``search.run`` records about an experiment, relative to its folder: which study it uses and how many
trials it runs to (``<experiment>/search.json``).

Users move experiment folders: they copy a finished search to try other settings, download one from a bucket,
hand one to a colleague. ``--resume`` must then go on in the folder being resumed and in *its* study. So the
record names the default study as "this folder's own ``study.db``", not by its path: a moved or copied folder
uses its own copy, and when the folder is not where it last ran, one line says so. A study given with
``--storage-url`` or ``experiment.storage`` (PostgreSQL, a shared file) is recorded as that URL without its
password; a resume that names another study is refused in one line, and so is one of a moved or copied folder
that names none (the original may be using that study: passing ``--storage-url`` is the user's choice).

Experiments from before the record resume with the study the command line gives (default: the folder's own),
the experiment's name or, when the folder's database holds one study only, that one; the record is written then.

The file is JSON, read as untrusted input: anything but the expected keys and types is one line naming it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from search.study import STUDY_FILE, default_storage_url, open_storage, safe_url, same_database

__all__ = [
    "OWN_STUDY", "RECORD_FILE", "Record", "RecordError", "StudyChoice", "new_study", "read_record", "record_of",
    "resumed_study", "write_record",
]

RECORD_FILE = "search.json"
# The record's storage for the folder's own study.db, wherever the folder is.
OWN_STUDY = STUDY_FILE
# A record is a few hundred bytes; a larger file is not one.
MAX_RECORD_BYTES = 64 * 1024


class RecordError(ValueError):
    """The record, or the study it names, does not fit the command; the message is one line."""


@dataclass(frozen=True)
class Record:
    """``search.json``."""

    storage: str  # OWN_STUDY, or the study URL given at the start (without its password)
    study: str  # the Optuna study's name (the experiment's name at the start; a copy keeps it)
    num_samples: int  # the trials the search runs to
    folder: str  # the folder's absolute path when it last ran: only to tell that it was moved or copied


@dataclass(frozen=True)
class StudyChoice:
    """The study a run uses."""

    url: str
    name: str
    note: str = ""  # one line for the user ("" for none)


def read_record(folder: Path) -> Record | None:
    """The record in ``folder``; None where there is none (an experiment from before the record).

    Raises:
        RecordError: it is not a record (bad JSON, a missing key, a value of another type).
    """
    path = folder / RECORD_FILE
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_RECORD_BYTES:
        raise RecordError(f"{path}: not a record of this project (over {MAX_RECORD_BYTES} bytes)")
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise RecordError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    for key, kind in (("storage", str), ("study", str), ("num_samples", int), ("folder", str)):
        value = raw.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is str and not value):
            raise RecordError(f"{path}: {key}: expected a {'non-empty string' if kind is str else 'whole number'}, "
                              f"got {value!r}")
    if raw["num_samples"] < 1:
        raise RecordError(f"{path}: num_samples: expected at least 1, got {raw['num_samples']}")
    return Record(raw["storage"], raw["study"], raw["num_samples"], raw["folder"])


def write_record(folder: Path, record: Record) -> None:
    """Write ``record`` into ``folder`` through a temporary file and a rename: a crash leaves the old or the new."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{RECORD_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(record), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / RECORD_FILE)


def record_of(folder: Path, study: StudyChoice, num_samples: int) -> Record:
    """The record of an experiment in ``folder`` that uses ``study`` and runs to ``num_samples`` trials."""
    own = same_database(study.url, default_storage_url(folder))
    return Record(OWN_STUDY if own else safe_url(study.url), study.name, num_samples, str(folder.resolve()))


def new_study(folder: Path, given: str | None, name: str) -> StudyChoice:
    """The study of a new search in ``folder``: ``given`` (a URL from the command line or the space), else the
    folder's own ``study.db``; named ``name``."""
    return StudyChoice(given or default_storage_url(folder), name)


def resumed_study(folder: Path, record: Record | None, given: str | None, given_by: str, name: str) -> StudyChoice:
    """The study ``--resume`` goes on in (see the module doc), checked to exist.

    Args:
        folder: the experiment's local folder, where it is now.
        record: its record (:func:`read_record`).
        given: the study URL of this command (``--storage-url`` or ``experiment.storage``), or None.
        given_by: what gave it, for the messages (``--storage-url``).
        name: the experiment's name (the study's, for an experiment from before the record).

    Raises:
        RecordError: the command names another study than the record; a moved folder whose study is outside
            it, with none given; a study that is not in its database.
    """
    here = str(folder.resolve())
    own = default_storage_url(folder)
    if record is None:
        return _unrecorded(folder, given or own, name, own=given is None or same_database(given, own))
    if record.storage == OWN_STUDY:
        if given and not same_database(given, own):
            raise RecordError(f"--resume: {here} keeps its study in its own {STUDY_FILE} ({RECORD_FILE}); "
                              f"{given_by} names {safe_url(given)}: leave it out")
        if not (folder / STUDY_FILE).is_file():
            raise RecordError(f"--resume: {here} has no {STUDY_FILE}, which holds its study ({RECORD_FILE}): "
                              "copy it with the folder")
        _check(own, record.study)
        note = "" if record.folder == here else (
            f"{here} was started at {record.folder}: it goes on in its own {STUDY_FILE} (study "
            f"{record.study!r}) and folder; nothing in {record.folder} is read or written")
        return StudyChoice(own, record.study, note)
    if given:
        if not same_database(given, record.storage):
            raise RecordError(f"--resume: the study of {here} is {record.storage} (study {record.study!r}, "
                              f"{RECORD_FILE}); {given_by} names {safe_url(given)}: pass --storage-url "
                              f"{record.storage}")
        _check(given, record.study)
        return StudyChoice(given, record.study)
    if record.folder != here:
        raise RecordError(f"--resume: {here} was started at {record.folder}, with the study {record.storage} "
                          f"(study {record.study!r}), which that folder's search uses too: pass --storage-url "
                          f"{record.storage} to go on in it")
    if _has_password(record.storage):
        raise RecordError(f"--resume: the study of {here} is {record.storage} (study {record.study!r}, "
                          f"{RECORD_FILE}; its password is not recorded): pass --storage-url with it")
    _check(record.storage, record.study)
    return StudyChoice(record.storage, record.study)


def _unrecorded(folder: Path, url: str, name: str, *, own: bool) -> StudyChoice:
    """An experiment from before the record: the study ``name`` at ``url``, or the only one of its own study.db."""
    if own and not (folder / STUDY_FILE).is_file():
        raise RecordError(f"--resume: {folder.resolve()} has no {STUDY_FILE}: pass --storage-url with the study "
                          "the search was started with")
    names = _studies(url)
    if name in names:
        return StudyChoice(url, name)
    if own and len(names) == 1:
        return StudyChoice(url, names[0], f"{STUDY_FILE} holds the study {names[0]!r}, not {name!r} (the folder "
                           f"was copied or renamed): going on with it")
    raise RecordError(f"--resume: no study {name!r} in {safe_url(url)} (it holds: {', '.join(names) or 'none'})")


def _check(url: str, name: str) -> None:
    if name not in _studies(url):
        raise RecordError(f"--resume: no study {name!r} in {safe_url(url)}, which the experiment's record "
                          f"({RECORD_FILE}) names")


def _studies(url: str) -> list[str]:
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        # Opening it would create an empty database.
        raise RecordError(f"--resume: {safe_url(url)}: no such database file")
    try:
        return sorted(s.study_name for s in open_storage(url).get_all_studies())
    except ValueError as exc:
        raise RecordError(f"--resume: {exc}") from None


def _has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password is not None
    except Exception:  # not a URL SQLAlchemy parses: opening it says so
        return False
