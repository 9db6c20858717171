"""The generate stage's MLflow run, and the held-out metrics added to each language model's training run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import Params


def log_to_mlflow(params: Params, result: dict[str, Any], runs: dict[str, dict[str, Any]], out: Path) -> None:
    """``runs``: per model, its training's MLflow run (``mlflow_run_id``), which gets the held-out metrics."""
    import mlflow

    from pipeline.tracking import flat_params, provenance_tags, setup_mlflow

    setup_mlflow(params.base)
    metrics: dict[str, float] = {}
    for row in result["rows"]:
        for key in ("perplexity", "test_perplexity", "val_loss", "bleu", "chrf", "distinct_1", "distinct_2"):
            if row[key] is not None:
                metrics[f"{row['model']}/{key}"] = row[key]
    for name, agreement in result["class_agreement"]["by_model"].items():
        metrics[f"{name}/class_agreement"] = agreement["rate"]
    metrics["class_agreement/chance"] = result["class_agreement"]["chance"]
    with mlflow.start_run(run_name="generate", tags={**provenance_tags(params.base.seed), "stage": "generate"}):
        mlflow.log_params(flat_params(params, ("generate",)))
        mlflow.log_param("classifier", result["class_agreement"]["classifier"])
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(out / "metrics.json"))
        mlflow.log_artifact(str(out / "samples.json"))
    for row in result["rows"]:
        run_id = runs.get(row["model"], {}).get("mlflow_run_id")
        if run_id:
            with mlflow.start_run(run_id=run_id):
                mlflow.log_metrics(
                    {f"heldout/{k.split('/', 1)[1]}": v for k, v in metrics.items() if k.startswith(f"{row['model']}/")}
                )
