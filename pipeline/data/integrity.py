"""Safe artifact files: atomic writes (temp file + rename) and sha256 checksums of pickled files.

A pickle runs code when it is loaded, so every pickled artifact the pipeline writes (``model.joblib``) gets a
checksum file beside it, ``<name>.sha256`` (``sha256sum`` format, so ``sha256sum -c`` checks it too), written
when the artifact is written and verified before it is loaded: a file changed after it was written is refused
with one line naming it and both hashes. What this does and does not protect is in the README ("What is
trusted").
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.data.jsonl import DataError

SUFFIX = ".sha256"


class ChecksumError(DataError):
    """A pickled artifact does not match the checksum recorded when it was written (or has none)."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + SUFFIX)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends without an
    exception (a reader never sees half a file), removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_checksum(path: Path) -> str:
    """Record the sha256 of ``path`` in ``<path>.sha256`` (atomically); return it."""
    digest = sha256_file(path)
    write_text_atomic(checksum_path(path), f"{digest}  {path.name}\n")
    return digest


def recorded_checksum(path: Path) -> str:
    """The sha256 recorded beside ``path``; a missing or malformed record is a :class:`ChecksumError`."""
    record = checksum_path(path)
    try:
        digest = record.read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError):
        raise ChecksumError(
            f"{path}: no checksum recorded ({record.name} missing or empty); a pickled file is loaded only with the "
            "checksum written beside it when it was made: re-create it (run its stage again)"
        ) from None
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ChecksumError(f"{record}: not a sha256 checksum ({digest[:80]!r}); expected 64 hex digits")
    return digest


def verify_checksum(path: Path, expected: str | None = None) -> str:
    """Check ``path`` against ``expected`` (else the checksum recorded beside it) before it is unpickled;
    return the digest. A mismatch is a :class:`ChecksumError` naming the file and both hashes."""
    expected = (expected or recorded_checksum(path)).lower()
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"{path}: sha256 {actual} does not match the recorded {expected}; the file changed after it was written, "
            "refusing to unpickle it"
        )
    return actual
