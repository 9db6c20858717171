"""Everything the report shows, read from the stages' saved files (the report never retrains)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.data.jsonl import read_json
from pipeline.training.run_record import RunRecord


@dataclass
class Inputs:
    """The saved files the report is made from, as loaded JSON."""

    metrics: dict[str, dict[str, float]]
    summary: dict[str, Any]
    evals: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)
    significance: dict[str, Any] | None = None
    registry: dict[str, Any] | None = None
    generation: dict[str, Any] | None = None
    samples: list[dict[str, Any]] | None = None
    export: list[dict[str, Any]] | None = None
    export_timed: list[dict[str, Any]] | None = None

    @property
    def ranking(self) -> list[str]:
        """Architectures by test macro-F1, best first (ties by name)."""
        return sorted(self.metrics, key=lambda a: (-self.metrics[a]["f1_macro"], a))


def _read_optional(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


def collect(
    reports_dir: str | Path, processed_dir: str | Path, models_dir: str | Path, classifiers: list[str]
) -> Inputs:
    """Read ``<reports_dir>/metrics.json``, ``eval/<arch>.json`` (and ``significance.json``), each
    ``<models_dir>/<arch>/run.json``, ``<processed_dir>/summary.json`` and, when present, ``registry.json``,
    ``tuning/<arch>.json`` (studies with trials only), ``generation/{metrics,samples}.json``, the export stage's
    ``<models_dir>/export/export.json`` and the latencies bench/bench_export.py measured (``bench/export.json``).
    Run records are read without their run log (:mod:`pipeline.runlog`): the report is the same bytes for the
    same outputs."""
    reports = Path(reports_dir)
    inputs = Inputs(
        metrics=read_json(reports / "metrics.json"),
        summary=read_json(Path(processed_dir) / "summary.json"),
        significance=_read_optional(reports / "eval" / "significance.json"),
        registry=_read_optional(reports / "registry.json"),
        generation=_read_optional(reports / "generation" / "metrics.json"),
        samples=_read_optional(reports / "generation" / "samples.json"),
        export=_read_optional(Path(models_dir) / "export" / "export.json"),
        export_timed=_read_optional(reports / "bench" / "export.json"),
    )
    for arch in classifiers:
        inputs.evals[arch] = read_json(reports / "eval" / f"{arch}.json")
        inputs.runs[arch] = RunRecord.load(Path(models_dir) / arch, run_log=False).model_dump()  # validated
        study = _read_optional(reports / "tuning" / f"{arch}.json")
        if study and study.get("trials"):
            inputs.tuning[arch] = study
    return inputs
