"""A machine-wide lock around the first use of a database, for workers started together.

Two processes creating a new SQLite store at once race in its schema migrations (MLflow's half-migrated
store is then unusable; Optuna's loser fails on ``alembic_version``). Holding this lock while opening the
store makes the first process create it and the others find it ready. Nothing is locked across machines:
server databases (PostgreSQL, an MLflow server) migrate in transactions or in one server process.
"""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def store_lock(url: str) -> Iterator[None]:
    """Exclusive lock named after ``url``, held for the ``with`` block (a file in the temp directory)."""
    name = "arabic-ml-store-" + hashlib.sha256(url.encode()).hexdigest()[:16] + ".lock"
    with open(Path(tempfile.gettempdir()) / name, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
