"""Where the study lives: an Optuna RDB storage (SQLite in the experiment folder by default; any SQLAlchemy URL)."""

from __future__ import annotations

from pathlib import Path

import optuna

__all__ = ["STUDY_FILE", "default_storage_url", "open_storage", "without_password"]

STUDY_FILE = "study.db"


def default_storage_url(experiment_dir: Path) -> str:
    """``sqlite:///<experiment folder>/study.db`` (absolute path)."""
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
        raise ValueError(f"study storage {without_password(url)}: cannot be opened ({type(exc).__name__}: {exc})") \
            from None


def without_password(url: str) -> str:
    """``url`` as it may be printed or stored: its password, if it holds one, masked (``***``)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL SQLAlchemy can parse: nothing to mask in it
        return url
