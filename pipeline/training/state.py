"""Resumable training state outside the DVC output (which DVC deletes before re-running a stage).

``<state_dir>/state.json`` holds a fingerprint of what the training depends on and its MLflow run id;
``<state_dir>/checkpoints/last.ckpt`` the last epoch. A run with the same fingerprint resumes from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.data.jsonl import read_json, write_json

log = logging.getLogger("state")


def fingerprint(*parts: Any, files: tuple[Path, ...] = ()) -> str:
    """sha256 of JSON-serialisable ``parts`` and the bytes of ``files``."""
    h = hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
    for path in files:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


@dataclass
class TrainingState:
    dir: Path
    fingerprint: str
    resume_from: Path | None
    mlflow_run_id: str | None

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    def save(self, mlflow_run_id: str) -> None:
        write_json(self.dir / "state.json", {"fingerprint": self.fingerprint, "mlflow_run_id": mlflow_run_id})

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def open_state(state_dir: Path, fp: str, resume: bool, name: str, read_only: bool = False) -> TrainingState:
    """The state of an interrupted training with fingerprint ``fp`` (resumable), else a fresh empty one.

    ``read_only``: the same decision without touching the folder (the other processes of a distributed
    training, which start once rank 0 has opened the state: they resume exactly when it does)."""
    last, state_file = state_dir / "checkpoints" / "last.ckpt", state_dir / "state.json"
    if resume and last.is_file() and state_file.is_file():
        saved = read_json(state_file)
        if saved.get("fingerprint") == fp:
            return TrainingState(state_dir, fp, last, saved.get("mlflow_run_id"))
        if not read_only:
            log.info("%s: discarding the state of an interrupted training with other params or data", name)
    if read_only:
        return TrainingState(state_dir, fp, None, None)
    shutil.rmtree(state_dir, ignore_errors=True)
    (state_dir / "checkpoints").mkdir(parents=True)
    return TrainingState(state_dir, fp, None, None)
