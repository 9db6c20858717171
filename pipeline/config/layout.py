"""The folders params name must be the ones ``dvc.yaml`` declares as outputs.

``base.processed_dir: data/clean`` with ``outs: [data/processed]`` in the preprocess stage would write
files DVC neither caches nor tracks, and the next stage would read stale ones. :func:`check_layout` compares
each path key with the outputs of the stage that writes it; ``python -m pipeline check`` and every stage
(through :func:`pipeline.cli.run`) call it before any work.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from pipeline.config.base import ParamsError
from pipeline.config.params import Params

DVC_FILE = Path("dvc.yaml")

# (params key, the stage writing it, whether an output *is* the folder or lies *under* it)
LAYOUT: tuple[tuple[str, str, str], ...] = (
    ("base.raw_dir", "scrape", "is"),
    ("base.processed_dir", "preprocess", "is"),
    ("base.models_dir", "train", "under"),
    ("base.reports_dir", "evaluate", "under"),
)
_VAR = re.compile(r"\$\{\s*([\w.]+)\s*\}")


def _value(params: Params, dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        node = getattr(node, part, None)
    return node


def _norm(path: str) -> str:
    return str(PurePosixPath(path.replace("\\", "/")))


def stage_outs(params: Params, dvc_file: Path = DVC_FILE) -> dict[str, list[str]]:
    """Each stage's outputs, ``${key}`` filled in from ``params`` (``${item}`` of a foreach stays as it is)."""
    try:
        stages = (yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}).get("stages") or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ParamsError(f"{dvc_file}: cannot be read: {' '.join(str(err).split())}") from None
    out: dict[str, list[str]] = {}
    for name, stage in stages.items():
        body = stage.get("do", stage) if isinstance(stage, dict) else {}
        paths = [o if isinstance(o, str) else next(iter(o)) for o in body.get("outs") or []]

        def fill(match: re.Match[str]) -> str:
            found = _value(params, match.group(1))
            return match.group(0) if found is None else str(found)

        out[name] = [_norm(_VAR.sub(fill, p)) for p in paths]
    return out


def check_layout(params: Params, dvc_file: Path = DVC_FILE) -> None:
    """Raise :class:`ParamsError` when a folder key disagrees with ``dvc.yaml``'s outputs (no ``dvc.yaml``: no
    check)."""
    if not dvc_file.is_file():
        return
    outs = stage_outs(params, dvc_file)
    problems = []
    for key, stage, how in LAYOUT:
        if stage not in outs:
            continue
        folder = _norm(str(_value(params, key)))
        listed = outs[stage]
        ok = folder in listed if how == "is" else any(o.startswith(folder + "/") for o in listed)
        if not ok:
            where = "an output" if how == "is" else "the folder of an output"
            problems.append(
                f"  - {key}: {folder!r} is not {where} of dvc.yaml's {stage} stage (outs: {', '.join(listed)}); "
                f"set {key} to match, or change the stage's outs"
            )
    if problems:
        raise ParamsError(
            f"params.yaml disagrees with {dvc_file} ({len(problems)} problem(s)):\n" + "\n".join(problems)
        )
