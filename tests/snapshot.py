"""Copy a project checkout into a fresh git repository (for end-to-end tests and benchmarks)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def snapshot_repo(src: Path, dest: Path, drop: tuple[str, ...] = ("dvc.lock",)) -> Path:
    """Copy the files git would commit from ``src`` (tracked, plus untracked but not ignored) into ``dest``.

    ``dest`` becomes a new git repository with one commit, so DVC and the run records see a clean tree.
    Paths in ``drop`` are left out (by default ``dvc.lock``, so every stage runs).
    """
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=src,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, listed):
        if (src / rel).is_file() and rel not in drop:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dest / rel)
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=snapshot", "-c", "user.email=snapshot@localhost", "commit", "-qm", "snapshot"],
    ):
        subprocess.run(cmd, cwd=dest, check=True)
    return dest
