"""Stage **evaluate**: test-set metrics, uncertainty, error analysis and explanations for every classifier.

Loads each ``<models_dir>/<arch>/`` with :func:`pipeline.serving.predict.load_predictor` (networks: the best
validation checkpoint; ``tfidf_linear``: ``model.joblib``; other families through their loader),
predicts the test split and writes ``<reports_dir>/eval/<arch>.json``:

- accuracy, macro-F1, weighted-F1, per-class precision/recall/F1, the confusion matrix;
- percentile-bootstrap intervals for accuracy and macro-F1 at ``evaluate.confidence_level`` (``ci``; scipy),
  seeded with ``base.seed``;
- calibration (expected calibration error, torchmetrics, and the reliability bins), per-class PR curves;
- every seed's model (``models/<arch>/seeds/<seed>/``, see ``train.seeds``): ``seeds``, ``seed_mean``,
  ``seed_std`` (the primary model is the one all other figures describe);
- McNemar's test of the best model (test macro-F1) against this one (``significance``);
- the most confidently wrong test documents per true class, a few test examples and, for predictors
  with ``explain``, token explanations of the same few chosen documents for every model.

Also ``<reports_dir>/eval/significance.json`` (all comparisons, Holm-adjusted), DVC plot data under
``<reports_dir>/plots/`` (curves, confusion pairs, PR curves) and the headline
``<reports_dir>/metrics.json``. Test metrics go to each model's MLflow training run.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import cli
from pipeline.config import EvaluateParams, Params, load_params
from pipeline.data.jsonl import DataError, read_json, write_json
from pipeline.data.split import read_split
from pipeline.evaluation.stats import bootstrap_ci, calibration, holm, mcnemar, mean_std, pr_curves
from pipeline.serving.predict import load_predictor
from pipeline.tracking import setup_mlflow
from pipeline.training.run_record import RunRecord

log = logging.getLogger("evaluate")
TEXT_CHARS = 1000  # characters of a document's text kept in the evaluation files


def classification_metrics(y_true: list[int], y_pred: list[int], labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, weighted-F1, per-class P/R/F1/support and the confusion matrix (rows = truth)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    ids = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "f1_macro": round(float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)), 4),
        "f1_weighted": round(float(f1_score(y_true, y_pred, labels=ids, average="weighted", zero_division=0)), 4),
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


def argmax(probs: Sequence[Sequence[float]]) -> list[int]:
    """The predicted class of each row (the first on ties)."""
    return np.asarray(probs).argmax(axis=1).tolist()


def confident_errors(
    rows: Sequence[dict[str, Any]], y_pred: list[int], probs: Sequence[Sequence[float]], labels: list[str], k: int
) -> dict[str, list[dict[str, Any]]]:
    """Per true class, the ``k`` wrong predictions with the highest confidence (ties: by id)."""
    out: dict[str, list[dict[str, Any]]] = {lab: [] for lab in labels}
    wrong = [(max(pr), str(r["id"]), r, p) for r, p, pr in zip(rows, y_pred, probs, strict=True) if p != r["label"]]
    for conf, _, row, pred in sorted(wrong, key=lambda w: (-w[0], w[1])):
        bucket = out[labels[int(row["label"])]]
        if len(bucket) < k:
            bucket.append(
                {
                    "id": row["id"],
                    "url": row.get("url"),
                    "text": str(row.get("text", ""))[:TEXT_CHARS],
                    "true": labels[int(row["label"])],
                    "pred": labels[pred],
                    "confidence": round(conf, 4),
                }
            )
    return out


def choose_documents(rows: Sequence[dict[str, Any]], n: int, min_tokens: int = 5) -> list[dict[str, Any]]:
    """``n`` test documents to explain, the same for every model: classes in turn, the shortest document
    (at least ``min_tokens`` tokens) of each class first, ties by id."""
    by_class: dict[int, list[dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: (len(r["tokens"]), str(r["id"]))):
        if len(r["tokens"]) >= min_tokens:
            by_class.setdefault(int(r["label"]), []).append(r)
    chosen: list[dict[str, Any]] = []
    depth = 0
    while len(chosen) < n and any(len(v) > depth for v in by_class.values()):
        for label in sorted(by_class):
            if len(chosen) < n and len(by_class[label]) > depth:
                chosen.append(by_class[label][depth])
        depth += 1
    return chosen


def explanations(predictor: Any, docs: Sequence[dict[str, Any]], labels: list[str], steps: int) -> list[dict]:
    """``predictor.explain`` on each chosen document (empty when the predictor cannot explain)."""
    if not hasattr(predictor, "explain"):
        return []
    out = []
    for row in docs:
        try:
            exp = predictor.explain(row, steps=steps)
        except TypeError:  # an explain() without the steps argument (other families)
            exp = predictor.explain(row)
        out.append(
            {
                "id": row["id"],
                "text": str(row.get("text", ""))[:TEXT_CHARS],
                "true": labels[int(row["label"])],
                "pred": labels[int(exp["predicted"])],
                **exp,
            }
        )
    return out


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


def significance(
    results: dict[str, dict[str, Any]], correct: dict[str, list[bool]], ep: EvaluateParams
) -> dict[str, Any]:
    """McNemar's test of the best model (highest test macro-F1, then accuracy, then name) against each
    other one, with Holm-adjusted p-values."""
    best = sorted(results, key=lambda a: (-results[a]["f1_macro"], -results[a]["accuracy"], a))[0]
    others = [a for a in results if a != best]
    tests = {a: mcnemar(correct[best], correct[a], ep.mcnemar_exact_below) for a in others}
    adjusted = holm([tests[a]["p_value"] for a in others])
    comparisons = {}
    for a, p_holm in zip(others, adjusted, strict=True):
        t = tests[a]
        comparisons[a] = {
            "against": best,
            "best_only_right": t["b"],
            "other_only_right": t["c"],
            "method": t["method"],
            "statistic": round(float(t["statistic"]), 4),
            "p_value": round(float(t["p_value"]), 4),
            "p_holm": round(float(p_holm), 4),
            "significant": bool(p_holm < ep.significance_level),
        }
    return {"best": best, "alpha": ep.significance_level, "correction": "holm", "comparisons": comparisons}


def evaluate(params: Params) -> dict[str, dict[str, float]]:
    base, ep = params.base, params.evaluate
    labels = read_json(Path(base.processed_dir) / "classes.json")["labels"]
    reports = Path(base.reports_dir)
    rows = read_split(Path(base.processed_dir) / "test.jsonl")
    if not rows:
        raise DataError(f"{Path(base.processed_dir) / 'test.jsonl'}: the test split is empty")
    y_true = [int(r["label"]) for r in rows]
    chosen = choose_documents(rows, ep.explain_documents)
    results: dict[str, dict[str, Any]] = {}
    correct: dict[str, list[bool]] = {}

    for arch in params.classifiers:
        model_dir = Path(base.models_dir) / arch
        if not (model_dir / "run.json").is_file():
            raise DataError(f"{model_dir / 'run.json'}: no trained model (run `dvc repro train@{arch}` first)")
        run = RunRecord.load(model_dir)
        predictor = load_predictor(model_dir, base.processed_dir)
        probs = predictor.predict_proba(rows)
        y_pred = argmax(probs)
        metrics = classification_metrics(y_true, y_pred, labels)
        ok = [t == p for t, p in zip(y_true, y_pred, strict=True)]
        pr = pr_curves(y_true, probs, labels)
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
            "pr_curves": pr,
            "mlflow_run_id": run.mlflow_run_id,
            "git_commit": run.git_commit,
        }
        result.update(seed_results(model_dir, base.processed_dir, rows, result))
        result["confident_errors"] = confident_errors(rows, y_pred, probs, labels, ep.confident_errors)
        result["examples"] = [
            {
                "url": r["url"],
                "text": r["text"][:400],
                "true": labels[t],
                "pred": labels[p],
                "confidence": round(max(pr_), 4),
            }
            for r, t, p, pr_ in list(zip(rows, y_true, y_pred, probs, strict=True))[: ep.examples]
        ]
        result["explanations"] = explanations(predictor, chosen, labels, ep.ig_steps)
        results[arch], correct[arch] = result, ok
        write_plot_data(reports / "plots", arch, run, [labels[t] for t in y_true], [labels[p] for p in y_pred])
        write_pr_plot_data(reports / "plots", arch, pr)
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

    sig = significance(results, correct, ep)
    write_json(reports / "eval" / "significance.json", sig)
    for arch, result in results.items():
        result["significance"] = sig["comparisons"].get(arch)
        write_json(reports / "eval" / f"{arch}.json", result)
    log_to_mlflow(params, results)
    headline = {a: {"accuracy": r["accuracy"], "f1_macro": r["f1_macro"]} for a, r in results.items()}
    write_json(reports / "metrics.json", headline)
    return headline


def log_to_mlflow(params: Params, results: dict[str, dict[str, Any]]) -> None:
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


def main() -> None:
    cli.parser(__doc__).parse_args()
    evaluate(load_params())


if __name__ == "__main__":
    cli.run(main)
