"""Test metrics logged to each model's MLflow training run (and each extra seed's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import Params
from pipeline.tracking import setup_mlflow


def log_test_metrics(params: Params, results: dict[str, dict[str, Any]]) -> None:
    """Test metrics (with intervals and calibration) into each model's training run, and each seed's."""
    setup_mlflow(params.base)
    import mlflow

    reports = Path(params.base.reports_dir)
    for arch, r in results.items():
        if r.get("mlflow_run_id"):
            with mlflow.start_run(run_id=r["mlflow_run_id"]):
                mlflow.log_metrics(
                    {
                        "test/accuracy": r["accuracy"],
                        "test/f1_macro": r["f1_macro"],
                        "test/f1_weighted": r["f1_weighted"],
                        "test/ece": r["calibration"]["ece"],
                        "test/accuracy_ci_low": r["ci"]["accuracy"]["low"],
                        "test/accuracy_ci_high": r["ci"]["accuracy"]["high"],
                        "test/f1_macro_ci_low": r["ci"]["f1_macro"]["low"],
                        "test/f1_macro_ci_high": r["ci"]["f1_macro"]["high"],
                    }
                )
                mlflow.log_artifact(str(reports / "eval" / f"{arch}.json"))
                mlflow.set_tag("evaluated", "true")
        for s in r["seeds"][1:]:
            if s.get("mlflow_run_id"):
                with mlflow.start_run(run_id=s["mlflow_run_id"]):
                    mlflow.log_metrics({"test/accuracy": s["accuracy"], "test/f1_macro": s["f1_macro"]})
                    mlflow.set_tag("evaluated", "true")
