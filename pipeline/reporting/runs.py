"""The one reader of a model's run record (``<models_dir>/<arch>/run.json``, or a seed's ``seeds/<seed>/run.json``).

Every stage that needs a run record reads it through :func:`load_run`, so the record can later become a
typed object in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.data.jsonl import read_json

RUN_FILE = "run.json"


def run_path(model_dir: str | Path) -> Path:
    """Where the run record of the model saved in ``model_dir`` lives."""
    return Path(model_dir) / RUN_FILE


def load_run(path: str | Path) -> dict[str, Any]:
    """The run record in ``path``: a model folder or its ``run.json`` (``DataError`` when missing or invalid)."""
    path = Path(path)
    return read_json(run_path(path) if path.is_dir() else path)
