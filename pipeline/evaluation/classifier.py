"""Evaluate one trained classifier on the test split: metrics with intervals, calibration, PR curves, every
seed's model, confident errors, examples and explanations."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import Params
from pipeline.evaluation.errors import confident_errors, examples, explanations
from pipeline.evaluation.metrics import argmax, classification_metrics
from pipeline.evaluation.stats import bootstrap_ci, calibration, mean_std, pr_curves
from pipeline.serving.predict import load_predictor
from pipeline.training.run_record import RunRecord

log = logging.getLogger("evaluate")


def seed_results(model_dir: Path, processed_dir: str, rows: list[dict], primary: dict[str, Any]) -> dict[str, Any]:
    """Accuracy and macro-F1 of every seed's model of one architecture, their mean and std."""
    from pipeline.training.run_record import seed_dirs

    y_true = [int(r["label"]) for r in rows]
    labels = primary["labels"]
    seeds = [{"seed": primary["seed"], "accuracy": primary["accuracy"], "f1_macro": primary["f1_macro"]}]
    seeds[0]["mlflow_run_id"] = primary["mlflow_run_id"]
    for folder in seed_dirs(model_dir)[1:]:
        run = RunRecord.load(folder)
        m = classification_metrics(y_true, argmax(load_predictor(folder, processed_dir).predict_proba(rows)), labels)
        seeds.append(
            {
                "seed": run.seed,
                "accuracy": m["accuracy"],
                "f1_macro": m["f1_macro"],
                "mlflow_run_id": run.mlflow_run_id,
            }
        )
    mean, std = {}, {}
    for key in ("accuracy", "f1_macro"):
        mean[key], std[key] = mean_std([s[key] for s in seeds])
    return {"seeds": seeds, "seed_mean": mean, "seed_std": std}


def evaluate_classifier(
    params: Params, arch: str, model_dir: Path, rows: list[dict], labels: list[str], chosen: Sequence[dict[str, Any]]
) -> tuple[dict[str, Any], RunRecord, list[int]]:
    """``(result, run record, predicted classes)`` of the model in ``model_dir`` on the test ``rows``;
    ``chosen`` are the documents to explain (the same for every model)."""
    base, ep = params.base, params.evaluate
    y_true = [int(r["label"]) for r in rows]
    run = RunRecord.load(model_dir)
    predictor = load_predictor(model_dir, base.processed_dir)
    probs = predictor.predict_proba(rows)
    y_pred = argmax(probs)
    metrics = classification_metrics(y_true, y_pred, labels)
    ok = [t == p for t, p in zip(y_true, y_pred, strict=True)]
    result: dict[str, Any] = {
        "arch": arch,
        "family": run.family,
        "seed": run.seed,
        "test_documents": len(y_true),
        "labels": labels,
        **metrics,
        "ci": {
            "level": ep.confidence_level,
            "resamples": ep.bootstrap_resamples,
            **bootstrap_ci(y_true, y_pred, len(labels), ep.bootstrap_resamples, ep.confidence_level, base.seed),
        },
        "calibration": calibration([max(p) for p in probs], ok, ep.ece_bins),
        "pr_curves": pr_curves(y_true, probs, labels),
        "mlflow_run_id": run.mlflow_run_id,
        "git_commit": run.git_commit,
    }
    result.update(seed_results(model_dir, base.processed_dir, rows, result))
    result["confident_errors"] = confident_errors(rows, y_pred, probs, labels, ep.confident_errors)
    result["examples"] = examples(rows, y_true, y_pred, probs, labels, ep.examples)
    result["explanations"] = explanations(predictor, chosen, labels, ep.ig_steps)
    log.info(
        "%s: test accuracy %.4f [%.4f, %.4f], macro-F1 %.4f [%.4f, %.4f], ECE %.4f",
        arch,
        metrics["accuracy"],
        result["ci"]["accuracy"]["low"],
        result["ci"]["accuracy"]["high"],
        metrics["f1_macro"],
        result["ci"]["f1_macro"]["low"],
        result["ci"]["f1_macro"]["high"],
        result["calibration"]["ece"],
    )
    return result, run, y_pred
