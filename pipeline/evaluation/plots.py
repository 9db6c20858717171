"""DVC plot data of the evaluation: per-epoch curves, (actual, predicted) pairs and PR curves per model."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from pipeline.training.run_record import RunRecord


def safe_name(name: str) -> str:
    """A label usable as a file name (letters of any script, digits, - and _)."""
    return re.sub(r"[^\w-]", "_", name) or "_"


def write_plot_data(folder: Path, arch: str, run: RunRecord, actual: list[str], predicted: list[str]) -> None:
    """Files for the top-level DVC plots: per-epoch curves and (actual, predicted) pairs per architecture."""
    curves, confusion = folder / "curves", folder / "confusion"
    curves.mkdir(parents=True, exist_ok=True)
    confusion.mkdir(parents=True, exist_ok=True)
    keys = ("epoch", "val/f1_macro", "val/loss", "train/loss")
    rows = [r for r in run.curve if "val/f1_macro" in r]
    if rows:
        with (curves / f"{arch}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([k.replace("/", "_") for k in keys])
            writer.writerows([[r.get(k, "") for k in keys] for r in rows])
    with (confusion / f"{arch}.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["actual", "predicted"])
        writer.writerows(zip(actual, predicted, strict=True))


def write_pr_plot_data(folder: Path, arch: str, pr: dict[str, Any]) -> None:
    """``<folder>/pr/<arch>/<class>.csv`` (recall, precision): one DVC plot per model and class."""
    target = folder / "pr" / arch
    target.mkdir(parents=True, exist_ok=True)
    for label, curve in pr.items():
        with (target / f"{safe_name(label)}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["recall", "precision"])
            writer.writerows(zip(curve["recall"], curve["precision"], strict=True))
