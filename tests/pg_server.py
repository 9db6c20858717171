"""A throwaway PostgreSQL cluster for tests: ``initdb`` in a temporary folder, the server on 127.0.0.1 at a free
port (fsync off), a database created, its SQLAlchemy URL yielded, then the server stopped and the folder deleted.

Debian's ``postgresql`` package (``make setup-services``) puts ``initdb``/``pg_ctl`` in
``/usr/lib/postgresql/<version>/bin``, not on ``PATH``: :func:`pg_bin` finds them. ``initdb`` refuses to run as
root, so as root the cluster belongs to the ``postgres`` user (``runuser -u postgres --``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SERVICE_USER = "postgres"


def pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (newest Debian version first, then ``PATH``), or ``None``."""
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def unavailable() -> str | None:
    """Why no cluster can be started here (``None`` when one can)."""
    if pg_bin() is None:
        return (
            "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH): run make setup-services"
        )

    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"running as root and there is no {SERVICE_USER!r} user for initdb (which refuses root)"
        if shutil.which("runuser") is None:
            return "running as root without runuser (initdb refuses root)"
    return None


def require_postgres() -> None:
    """Skip the calling test, saying why, when PostgreSQL cannot run here."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", SERVICE_USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str], timeout: float = 120) -> None:
    done = subprocess.run(_as_owner(cmd), capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url`` (a ``postgresql+psycopg://`` URL); return its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(url)
    with psycopg.connect(
        host=server.host, port=server.port, user=server.username, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.set(database=name).render_as_string(hide_password=False)


@contextmanager
def pg_server(db: str = "test") -> Iterator[str]:
    """A running throwaway cluster with database ``db``; yields ``postgresql+psycopg://postgres@127.0.0.1:<port>/db``."""
    require_postgres()
    bindir = pg_bin()
    assert bindir is not None
    # not pytest's tmp_path: its parents are private to root, and the server runs as the postgres user
    folder = Path(tempfile.mkdtemp(prefix="pg-cluster-"))
    if os.geteuid() == 0:
        shutil.chown(folder, SERVICE_USER, SERVICE_USER)
    data, port = folder / "data", free_port()
    try:
        _run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        options = f"-h 127.0.0.1 -p {port} -k {folder} -F -c max_connections=60"
        _run([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"])
        try:
            yield create_database(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", db)
        finally:
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
