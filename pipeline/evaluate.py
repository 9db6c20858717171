"""Stage **evaluate**: test-set metrics for every trained architecture.

Loads each ``<models_dir>/<arch>/`` with :func:`pipeline.predict.load_predictor` (networks: the
best validation checkpoint; the ``tfidf_linear`` baseline: ``model.joblib``), predicts the test
split and writes ``<reports_dir>/eval/<arch>.json`` (accuracy, macro-F1, per-class
precision/recall/F1, confusion matrix, examples) and the headline ``<reports_dir>/metrics.json``
that ``dvc metrics show`` reads. Test metrics are added to each architecture's MLflow training
run, so one run per architecture holds both.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, load_params
from pipeline.jsonl import DataError, read_json, write_json
from pipeline.predict import load_predictor
from pipeline.split import read_split
from pipeline.tracking import setup_mlflow

log = logging.getLogger("evaluate")


def classification_metrics(y_true: list[int], y_pred: list[int], labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class P/R/F1/support and the confusion matrix (rows = truth)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    ids = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "f1_macro": round(float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)), 4),
        "per_class": {
            lab: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(s[i]),
            }
            for i, lab in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }


def write_plot_data(folder: Path, arch: str, run: dict, actual: list[str], predicted: list[str]) -> None:
    """Files for the top-level DVC plots: per-epoch curves and (actual, predicted) pairs per architecture."""
    import csv

    curves, confusion = folder / "curves", folder / "confusion"
    curves.mkdir(parents=True, exist_ok=True)
    confusion.mkdir(parents=True, exist_ok=True)
    keys = ("epoch", "val/f1_macro", "val/loss", "train/loss")
    rows = [r for r in run.get("curve", []) if "val/f1_macro" in r]
    if rows:
        with (curves / f"{arch}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([k.replace("/", "_") for k in keys])
            writer.writerows([[r.get(k, "") for k in keys] for r in rows])
    with (confusion / f"{arch}.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["actual", "predicted"])
        writer.writerows(zip(actual, predicted, strict=True))


def evaluate(params: Params) -> dict[str, dict[str, float]]:
    base = params.base
    labels = read_json(Path(base.processed_dir) / "classes.json")["labels"]
    reports = Path(base.reports_dir)
    headline: dict[str, dict[str, float]] = {}
    setup_mlflow(base)
    import mlflow

    for arch in params.classifiers:
        model_dir = Path(base.models_dir) / arch
        if not (model_dir / "run.json").is_file():
            raise DataError(f"{model_dir / 'run.json'}: no trained model (run `dvc repro train@{arch}` first)")
        run = read_json(model_dir / "run.json")
        rows = read_split(Path(base.processed_dir) / "test.jsonl")
        probs = load_predictor(model_dir, base.processed_dir).predict_proba(rows)
        y_true = [int(r["label"]) for r in rows]
        y_pred = [max(range(len(p)), key=p.__getitem__) for p in probs]
        metrics = classification_metrics(y_true, y_pred, labels)
        examples = [
            {
                "url": r["url"],
                "text": r["text"][:400],
                "true": labels[t],
                "pred": labels[p],
                "confidence": round(max(pr), 4),
            }
            for r, t, p, pr in list(zip(rows, y_true, y_pred, probs, strict=True))[: params.evaluate.examples]
        ]
        result = {
            "arch": arch,
            "test_documents": len(y_true),
            "labels": labels,
            **metrics,
            "mlflow_run_id": run.get("mlflow_run_id"),
            "examples": examples,
        }
        path = reports / "eval" / f"{arch}.json"
        write_json(path, result)
        write_plot_data(reports / "plots", arch, run, [labels[t] for t in y_true], [labels[p] for p in y_pred])
        headline[arch] = {"accuracy": metrics["accuracy"], "f1_macro": metrics["f1_macro"]}
        run_id = run.get("mlflow_run_id")
        if run_id:
            with mlflow.start_run(run_id=run_id):
                mlflow.log_metrics({"test/accuracy": metrics["accuracy"], "test/f1_macro": metrics["f1_macro"]})
                mlflow.log_artifact(str(path))
                mlflow.set_tag("evaluated", "true")
        log.info("%s: test accuracy %.4f, macro-F1 %.4f", arch, metrics["accuracy"], metrics["f1_macro"])
    write_json(reports / "metrics.json", headline)
    return headline


def main() -> None:
    evaluate(load_params())


if __name__ == "__main__":
    cli.run(main)
