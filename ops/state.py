"""The run state that is not a DVC output, kept in the DVC remote beside the data: ``python -m ops.state push|pull``.

Two snapshots, each one file under ``run-state/`` in the remote (any DVC remote: a folder, S3, ...):

- ``mlflow.tar.gz``: the MLflow store (the SQLite file of ``base.mlflow_tracking_uri`` and its artifact folder
  ``mlruns/``, so the registry and its ``@champion``), the run log that points into it (``.runs/``:
  :mod:`pipeline.runlog`) and the Optuna studies (``tune.storage`` when SQLite). The
  next scheduled run restores it, so the gate compares the challenger with the last run's champion. MLflow
  stores artifact locations as absolute paths: a restore into another folder rewrites them.
- ``journal.tar.gz``: an unfinished crawl's journal (``scrape.state_dir``), so a crawl cut off by a failed
  or cancelled job resumes in the next one. A finished crawl leaves no journal, and a push then removes it.

``pull`` never overwrites: it restores a snapshot only where none of its files exist locally (``--force``
replaces them). ``push`` replaces the remote's snapshots with the local state (the last push wins). A
tracking URI that is not a local SQLite file (an MLflow server) is skipped: that store lives on its own.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.runlog import RUNLOG_DIR

PREFIX = "run-state"
MANIFEST = "state.json"


class StateError(RuntimeError):
    """The state could not be moved (a bad remote, a broken snapshot)."""


@dataclass(frozen=True)
class Snapshot:
    name: str  # file name in the remote, ``<name>.tar.gz``
    paths: tuple[str, ...]  # repo-relative files or folders
    databases: tuple[str, ...] = ()  # SQLite files among paths: copied with the backup API
    mirror: bool = False  # push removes the remote copy when nothing is local (the journal of a finished crawl)


def _sqlite_path(uri: str) -> str | None:
    prefix = "sqlite:///"
    return uri[len(prefix) :] if uri.startswith(prefix) else None


def snapshots(root: Path) -> list[Snapshot]:
    """What this project keeps, read from ``params.yaml``."""
    from pipeline.config import load_params

    params = load_params(root / "params.yaml")
    out = []
    mlflow_db = _sqlite_path(os.environ.get("MLFLOW_TRACKING_URI") or params.base.mlflow_tracking_uri)
    optuna_db = _sqlite_path(params.tune.storage)
    dbs = tuple(p for p in (mlflow_db, optuna_db) if p and not Path(p).is_absolute())
    paths = dbs + (("mlruns", RUNLOG_DIR) if mlflow_db else ())  # the run log names the store's runs
    if paths:
        out.append(Snapshot("mlflow", paths, dbs))
    out.append(Snapshot("journal", (params.scrape.state_dir,), mirror=True))
    return out


@contextmanager
def remote_fs(root: Path, name: str | None) -> Iterator[tuple[object, str]]:
    """The DVC remote ``name`` (default: ``core.remote``) as an fsspec-like filesystem and its root path."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            remote = repo.cloud.get_remote(name)
            yield remote.fs, remote.path
    except DvcException as exc:
        raise StateError(f"DVC remote {name or '(default)'}: {exc}") from exc


def _pack(root: Path, snap: Snapshot, dest: Path) -> bool:
    """Write ``snap``'s existing paths with a manifest into ``dest``; False when none exists."""
    present = [p for p in snap.paths if (root / p).exists() and not _empty_dir(root / p)]
    if not present:
        return False
    manifest = {"root": str(root.resolve()), "paths": present}
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(dest, "w:gz") as tar:
        for rel in present:
            src = root / rel
            if rel in snap.databases:  # a consistent copy even if a reader has it open
                copy = Path(tmp) / Path(rel).name
                with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(copy)) as b:
                    a.backup(b)
                src = copy
            tar.add(src, arcname=rel)
        data = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return True


def _empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _unpack(root: Path, archive: Path) -> list[str]:
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile(MANIFEST)
        if member is None:
            raise StateError(f"{archive.name}: no {MANIFEST} in the snapshot")
        manifest = json.loads(member.read())
        for rel in manifest["paths"]:
            target = root / rel
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        tar.extractall(root, members=[m for m in tar.getmembers() if m.name != MANIFEST], filter="data")
    old, new = manifest["root"], str(root.resolve())
    if old != new:
        for rel in manifest["paths"]:
            if rel.endswith(".db"):
                rewrite_paths(root / rel, old, new)
    return manifest["paths"]


def rewrite_paths(db: Path, old: str, new: str) -> int:
    """Replace the ``old`` folder prefix by ``new`` in every text column of a SQLite file (MLflow keeps
    artifact locations absolute, with or without ``file://``); returns the number of values changed."""
    changed = 0
    with closing(sqlite3.connect(db)) as conn, conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for _, col, ctype, *_ in conn.execute(f'PRAGMA table_info("{table}")'):
                if "CHAR" not in ctype.upper() and "TEXT" not in ctype.upper():
                    continue
                for prefix in (old, "file://" + old):
                    changed += conn.execute(
                        f'UPDATE "{table}" SET "{col}" = ? || substr("{col}", ?) '
                        f"""WHERE substr("{col}", 1, ?) = ? AND substr("{col}", ?, 1) IN ('/', '')""",
                        (prefix.replace(old, new), len(prefix) + 1, len(prefix), prefix, len(prefix) + 1),
                    ).rowcount
    return changed


def _selected(root: Path, base: str, only: tuple[str, ...]) -> Iterator[tuple[Snapshot, str]]:
    """Each snapshot asked for (all when ``only`` is empty) with its key in the remote."""
    for snap in snapshots(root):
        if not only or snap.name in only:
            yield snap, f"{base.rstrip('/')}/{PREFIX}/{snap.name}.tar.gz"


def push(root: Path, remote: str | None = None, only: tuple[str, ...] = ()) -> list[str]:
    """Upload each snapshot that exists locally. With nothing local, the remote's MLflow store is kept (a
    checkout without one never wipes it) and its journal removed (the crawl finished). One line per snapshot."""
    lines = []
    with remote_fs(root, remote) as (fs, base), tempfile.TemporaryDirectory() as tmp:
        for snap, key in _selected(root, base, only):
            archive = Path(tmp) / f"{snap.name}.tar.gz"
            if _pack(root, snap, archive):
                fs.makedirs(f"{base.rstrip('/')}/{PREFIX}", exist_ok=True)
                fs.put_file(str(archive), key)
                lines.append(f"pushed {snap.name} ({', '.join(snap.paths)}): {archive.stat().st_size} bytes")
            elif snap.mirror and fs.exists(key):
                fs.rm_file(key)
                lines.append(f"removed {snap.name} from the remote (nothing local)")
            else:
                lines.append(f"{snap.name}: nothing to push")
    return lines


def pull(root: Path, remote: str | None = None, force: bool = False, only: tuple[str, ...] = ()) -> list[str]:
    """Restore each snapshot the remote has, unless its files exist locally (``force``: replace them)."""
    lines = []
    with remote_fs(root, remote) as (fs, base), tempfile.TemporaryDirectory() as tmp:
        for snap, key in _selected(root, base, only):
            local = [p for p in snap.paths if (root / p).exists() and not _empty_dir(root / p)]
            if local and not force:
                lines.append(f"{snap.name}: kept the local {', '.join(local)} (--force replaces them)")
            elif not fs.exists(key):
                lines.append(f"{snap.name}: none in the remote")
            else:
                archive = Path(tmp) / f"{snap.name}.tar.gz"
                fs.get_file(key, str(archive))
                try:
                    restored = _unpack(root, archive)
                except (tarfile.TarError, KeyError, ValueError, OSError) as exc:
                    raise StateError(f"{PREFIX}/{snap.name}.tar.gz in the remote: {exc}") from exc
                lines.append(f"restored {snap.name}: {', '.join(restored)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ops.state", description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("push", "pull"))
    ap.add_argument("-r", "--remote", default=None, help="a DVC remote name (default: core.remote)")
    ap.add_argument("--only", action="append", choices=("mlflow", "journal"), default=[], help="one snapshot")
    ap.add_argument("--force", action="store_true", help="pull: replace local files")
    ap.add_argument("--root", type=Path, default=Path.cwd(), help="the project folder (default: here)")
    args = ap.parse_args(argv)
    from pipeline.config import ParamsError

    try:
        if args.action == "push":
            lines = push(args.root, args.remote or None, tuple(args.only))
        else:
            lines = pull(args.root, args.remote or None, args.force, tuple(args.only))
    except (StateError, ParamsError, OSError, ValueError) as exc:  # one line: the remote's message names it
        print(f"error: run state {args.action}: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(f"run state: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
