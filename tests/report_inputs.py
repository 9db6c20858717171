"""Saved files for the report stage, written by hand (no training): two classifiers with evaluations, run
records, data summary, significance, registry, a tuning study and generation results. ``text`` is put
wherever the report shows scraped or generated text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline import runlog
from tests.conftest import write_params

LABELS = ["negative", "neutral", "positive"]
ARCHS = ["lstm", "tfidf_linear"]


def _dump(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")


def _eval(arch: str, f1: float, text: str, token: str) -> dict[str, Any]:
    doc = {"id": "d1", "url": "http://127.0.0.1/r/1.html", "text": text, "true": "negative", "pred": "positive"}
    explanations = []
    if arch == "lstm":
        explanations = [
            {
                "id": "d1",
                "text": text,
                "true": "negative",
                "pred": "positive",
                "method": "attention",
                "tokens": [token, "الخدمة", "ممتازة"],
                "scores": [0.5, 0.3, 0.2],
                "predicted": 2,
                "probabilities": [0.2, 0.1, 0.7],
            },
        ]
    bins = [{"lower": i / 10, "upper": (i + 1) / 10, "count": 0} for i in range(10)]
    bins[8].update(count=6, confidence=0.85, accuracy=0.6667)
    return {
        "arch": arch,
        "family": "baseline" if arch == "tfidf_linear" else "recurrent",
        "seed": 42,
        "test_documents": 6,
        "labels": LABELS,
        "accuracy": f1,
        "f1_macro": f1,
        "f1_weighted": f1,
        "per_class": {lab: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2} for lab in LABELS},
        "confusion_matrix": [[1, 0, 1], [0, 2, 0], [0, 1, 1]],
        "ci": {
            "level": 0.9,
            "resamples": 100,
            "accuracy": {"low": 0.3, "high": 0.9},
            "f1_macro": {"low": 0.2, "high": 0.8},
        },
        "calibration": {"ece": 0.1833, "bins": bins},
        "pr_curves": {
            lab: {"average_precision": 0.6, "precision": [0.5, 1.0], "recall": [1.0, 0.0], "thresholds": [0.5]}
            for lab in LABELS
        },
        "mlflow_run_id": f"run-{arch}",
        "git_commit": "abc123",
        "seeds": [{"seed": 42, "accuracy": f1, "f1_macro": f1, "mlflow_run_id": f"run-{arch}"}],
        "seed_mean": {"accuracy": f1, "f1_macro": f1},
        "seed_std": {"accuracy": 0.0, "f1_macro": 0.0},
        "confident_errors": {"negative": [{**doc, "confidence": 0.93}], "neutral": [], "positive": []},
        "examples": [{"url": doc["url"], "text": text, "true": "negative", "pred": "positive", "confidence": 0.93}],
        "explanations": explanations,
        "significance": None
        if arch == "lstm"
        else {
            "against": "lstm",
            "best_only_right": 2,
            "other_only_right": 1,
            "method": "exact binomial",
            "statistic": 2.0,
            "p_value": 1.0,
            "p_holm": 1.0,
            "significant": False,
        },
    }


def _run(arch: str) -> dict[str, Any]:
    curve = [{"epoch": e, "val/f1_macro": 0.4 + 0.1 * e, "val/loss": 1.0 - 0.1 * e} for e in range(3)]
    return {
        "arch": arch,
        "stage": "train",
        "family": "baseline" if arch == "tfidf_linear" else "recurrent",
        "seed": 42,
        "git_commit": "abc123",
        "versions": {"python": "3.11"},
        "device": "cpu",
        "precision": None,
        "checkpoint": f"models/{arch}/best.ckpt",
        "params": {"train.lr": 0.01, "train.architectures": ARCHS},
        "parameters": 1200 if arch == "lstm" else 300,
        "train_time_s": 1.5,
        "latency_ms_per_doc": {"batch_1": 0.5, "batch_64": 0.05},
        "best_val_f1_macro": 0.6,
        "curve": curve if arch == "lstm" else [],
        "best_epoch": 2,
        "epochs_run": 3,
        "mlflow_run_id": f"run-{arch}",
    }


def write_report_inputs(root: Path, text: str, title: str = "Arabic review classifiers") -> None:
    """``params.yaml`` and every file the report stage reads, under ``root``."""
    write_params(
        root / "params.yaml", {"train.architectures": ARCHS, "finetune.architectures": [], "report.title": title}
    )
    reports = root / "reports"
    split = {
        "documents": 6,
        "class_counts": dict.fromkeys(LABELS, 2),
        "tokens": 60,
        "tokens_per_doc": {"median": 10},
        "oov_rate": 0.05,
    }
    _dump(
        root / "data" / "processed" / "summary.json",
        {
            "source": {"source": "scrape"},
            "documents": 18,
            "dropped": {},
            "vocab_size": 50,
            "stemmer": "light",
            "near_duplicates": {"groups": 0, "documents_grouped": 0},
            "class_map": {"method": "fixed"},
            "classes": [
                {"id": i, "label": lab, "min_score": 3.0 * i, "max_score": 3.0 * i + 3, "max_inclusive": i == 2}
                for i, lab in enumerate(LABELS)
            ],
            "splits": {"train": split, "val": split, "test": split},
        },
    )
    f1 = {"lstm": 0.6, "tfidf_linear": 0.5}
    for arch in ARCHS:
        _dump(root / "models" / arch / "run.json", _run(arch))
        _dump(reports / "eval" / f"{arch}.json", _eval(arch, f1[arch], text, token=text))
    _dump(reports / "metrics.json", {a: {"accuracy": f1[a], "f1_macro": f1[a]} for a in ARCHS})
    comparison = _eval("tfidf_linear", 0.5, text, text)["significance"]
    _dump(
        reports / "eval" / "significance.json",
        {"best": "lstm", "alpha": 0.05, "correction": "holm", "comparisons": {"tfidf_linear": comparison}},
    )
    _dump(
        reports / "registry.json",
        {
            "name": "arabic-reviews-classifier",
            "version": "1",
            "alias": "champion",
            "arch": "lstm",
            "uri": "models:/arabic-reviews-classifier@champion",
            "selected_by": "val",
            "metrics": {"test/f1_macro": 0.6},
            "training_run_id": "run-lstm",
            "register_run_id": "run-register",
        },
    )
    trials = [
        {"number": 0, "state": "COMPLETE", "value": 0.5, "params": {"lr": 0.01}, "intermediate": {"0": 0.4}},
        {"number": 1, "state": "COMPLETE", "value": 0.6, "params": {"lr": 0.003}, "intermediate": {"0": 0.5}},
    ]
    _dump(
        reports / "tuning" / "lstm.json",
        {
            "arch": "lstm",
            "study_name": "tune-lstm",
            "metric": "val/f1_macro",
            "direction": "maximize",
            "n_trials": 2,
            "states": {"COMPLETE": 2},
            "best": {"number": 1, "value": 0.6, "params": {"lr": 0.003}},
            "trials": trials,
            "mlflow_parent_run_id": "parent123",
        },
    )
    _dump(
        reports / "generation" / "metrics.json",
        {
            "rows": [{"dataset": "demo", "model": "gpt2", "perplexity": 123.456, "bleu": 1.5}],
            "class_agreement": {"rate": 0.5, "chance": 0.33, "n": 12, "classifier": "lstm"},
        },
    )
    _dump(
        reports / "generation" / "samples.json",
        [{"model": "gpt2", "topic": "hotels", "decoding": {"name": "greedy"}, "text": text}],
    )
    runlog.write(  # facts of the run: the report must not show them
        reports / "generation" / "metrics.json", {"gpt2": {"train_tokens_per_s": 4321.5, "mlflow_run_id": "run-gpt2"}}
    )
