"""Run provenance (git commit, versions) and MLflow helpers: one store for the whole repo."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import BaseParams

if TYPE_CHECKING:
    from pipeline.config import Params

# Read once at import: mlflow.set_tracking_uri() writes MLFLOW_TRACKING_URI into os.environ, so a later
# read would see the last store this process used rather than the user's choice.
USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")
PACKAGES = ("torch", "lightning", "torchmetrics", "mlflow", "dvc", "scrapy", "numpy", "scikit-learn")


def git_commit() -> str:
    """The current commit (with ``-dirty`` if the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance(seed: int) -> dict[str, object]:
    return {"seed": seed, "git_commit": git_commit(), "versions": versions()}


def provenance_tags(seed: int) -> dict[str, str]:
    """Flat MLflow tags: ``git_commit``, ``seed`` and ``version.<package>``."""
    prov = provenance(seed)
    tags = {"git_commit": str(prov["git_commit"]), "seed": str(seed)}
    tags.update({f"version.{k}": v for k, v in prov["versions"].items()})  # type: ignore[union-attr]
    return tags


def setup_mlflow(base: BaseParams) -> str:
    """Point MLflow at the repo's store and experiment; return the experiment id."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(base))
    experiment = mlflow.set_experiment(base.mlflow_experiment)
    return experiment.experiment_id


def tracking_uri(base: BaseParams) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``base.mlflow_tracking_uri``; a relative SQLite path is made
    absolute (MLflow caches stores by URI, so a relative one would follow the first working directory)."""
    uri = USER_TRACKING_URI or base.mlflow_tracking_uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        uri = prefix + str(Path.cwd() / uri[len(prefix) :])
    return uri


def flat_params(params: Params, sections: tuple[str, ...] = ("base", "preprocess", "train")) -> dict[str, Any]:
    """``{"train.lr": 0.003, …}`` for the given sections (lists kept as strings)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        else:
            out[prefix] = value if isinstance(value, int | float | str | bool) else str(value)

    dumped = params.model_dump()
    for section in sections:
        walk(section, dumped[section])
    return out
