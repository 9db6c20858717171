"""The run log: what one execution measured about itself, kept apart from what it produced.

A stage's DVC outputs are a pure function of code, params and data, so the same params give the same bytes
and ``git status`` stays clean after ``make run`` on a clean clone. The facts of one execution (MLflow run ids,
wall times, measured latencies, throughput, the git commit) differ from run to run; they go to MLflow and to a
side file per output, ``.runs/<output path>.json`` at the repository root: git-ignored, no stage's dependency or
output. Readers of an output merge its side file back (``read``), so code on the machine that ran the stage
sees one record; on a machine that only pulled the outputs (``dvc pull``) those fields are absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RUNLOG_DIR = ".runs"


def side_path(output: Path) -> Path:
    """The side file of ``output``: ``<project>/.runs/<path inside the project>.json``, the project being the
    nearest folder above ``output`` with a ``dvc.yaml`` or a ``params.yaml``; an output outside any project
    keeps it in its parent's ``.runs/``. It depends on the output's path only, not on the process."""
    output = Path(os.path.abspath(output))
    for root in output.parents:
        if (root / "dvc.yaml").is_file() or (root / "params.yaml").is_file():
            return root / RUNLOG_DIR / _json_name(str(output.relative_to(root)))
    return output.parent / RUNLOG_DIR / _json_name(output.name)


def _json_name(name: str) -> str:
    return name if name.endswith(".json") else name + ".json"


def split(data: dict[str, Any], volatile: set[str] | frozenset[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``data`` without the ``volatile`` keys, and those keys' values (``None`` values dropped)."""
    kept = {k: v for k, v in data.items() if k not in volatile}
    facts = {k: v for k, v in data.items() if k in volatile and v is not None}
    return kept, facts


def write_json_apart(path: Path, data: dict[str, Any], volatile: set[str] | frozenset[str]) -> None:
    """``data`` into ``path`` (atomically) without its ``volatile`` keys, which go to ``path``'s run log."""
    from pipeline.data.jsonl import write_json

    kept, facts = split(data, volatile)
    write_json(path, kept)
    write(path, facts)


def write(output: Path, facts: dict[str, Any]) -> Path:
    """Record ``facts`` about the run that wrote ``output`` (replacing the last run's); atomic."""
    path = side_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # writers of the same output never share a temp file
    tmp.write_text(json.dumps(facts, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read(output: Path) -> dict[str, Any]:
    """The facts recorded about the run that wrote ``output``; ``{}`` when none (pulled, or never run here)."""
    path = side_path(output)
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return facts if isinstance(facts, dict) else {}


def merged(output: Path, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` read from ``output`` with its run's facts put back (the output's own keys win)."""
    return {**read(output), **data}
