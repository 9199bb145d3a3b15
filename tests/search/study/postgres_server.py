"""A throwaway PostgreSQL server for tests: PostgreSQL's own ``initdb`` and ``pg_ctl``, a temporary data folder,
127.0.0.1 on a free port, trust authentication (nothing but this machine reaches it), stopped at the end.

``initdb`` refuses to run as root; under root (CI, containers) the server runs as the unprivileged ``postgres``
user (``nobody`` where there is none) through ``runuser``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

USER = "fashion"  # the database role initdb makes; the URL names it
DATABASE = "postgres"  # the database initdb makes


def postgres_bin() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: the newest ``/usr/lib/postgresql/<version>/bin`` (Debian's
    layout, not on PATH), else PATH's; None without them."""
    folders = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    on_path = shutil.which("initdb")
    for folder in [*folders, *([Path(on_path).parent] if on_path else [])]:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def why_not() -> str | None:
    """Why no server can be started here (the skip reason), or None."""
    if postgres_bin() is None:
        return "PostgreSQL's initdb and pg_ctl not found (/usr/lib/postgresql/*/bin or PATH): install postgresql"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root, and initdb refuses root: runuser is needed to run it as another user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yield its SQLAlchemy URL (``postgresql://fashion@127.0.0.1:<port>/postgres``)."""
    bindir = postgres_bin()
    assert bindir is not None, why_not()
    folder = Path(tempfile.mkdtemp(prefix="ftpg-", dir="/tmp"))  # short: the Unix socket lives in it too
    as_user: list[str] = []
    if os.geteuid() == 0:
        name = "postgres" if _user_exists("postgres") else "nobody"
        user = pwd.getpwnam(name)
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", name, "--"]
    data, port = folder / "data", _free_port()

    def run(*cmd: str | Path) -> None:
        subprocess.run([*as_user, *map(str, cmd)], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(bindir / "initdb", "-D", data, "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        # fsync off: a test database need not survive a power cut, and the searches write a row per report.
        run(bindir / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t", "60",
            "-o", f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off", "start")
        try:
            yield f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}"
        finally:
            run(bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    except subprocess.CalledProcessError as exc:
        log = folder / "server.log"
        raise RuntimeError(f"{exc.cmd} failed: {exc.stderr}{log.read_text() if log.is_file() else ''}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
