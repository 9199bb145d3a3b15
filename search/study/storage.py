"""Where the study lives: an Optuna RDB storage (SQLite in the experiment folder by default; any SQLAlchemy URL)."""

from __future__ import annotations

from pathlib import Path

import optuna

__all__ = ["STUDY_FILE", "default_storage_url", "open_storage", "safe_url", "same_database"]

STUDY_FILE = "study.db"


def default_storage_url(experiment_dir: Path) -> str:
    """``sqlite:///<experiment folder>/study.db`` (absolute path), derived from where the folder is now."""
    return f"sqlite:///{(experiment_dir / STUDY_FILE).resolve()}"


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage for ``url`` (SQLite, PostgreSQL, MySQL: any SQLAlchemy URL).

    Raises:
        ValueError: the URL cannot be opened, with one line naming it.
    """
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    try:
        # SQLite: a long timeout, because trials ending together write to the one file.
        options = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
        return optuna.storages.RDBStorage(url, engine_kwargs=options)
    except Exception as exc:  # SQLAlchemy and drivers raise many types; all mean "cannot open"
        raise ValueError(f"study storage {safe_url(url)}: cannot be opened ({type(exc).__name__}: {exc})") from None


def safe_url(url: str) -> str:
    """``url`` without its password (it is printed, and recorded in the experiment folder and in trial attributes)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: nothing in it is known to be a password
        return url


def same_database(a: str, b: str) -> bool:
    """Whether the URLs ``a`` and ``b`` name one database: SQLite files by their resolved path, others by their
    URL without the password (a recorded URL has it hidden)."""
    sqlite = "sqlite:///"
    if a.startswith(sqlite) and b.startswith(sqlite):
        return Path(a[len(sqlite):]).resolve() == Path(b[len(sqlite):]).resolve()
    return safe_url(a) == safe_url(b)
