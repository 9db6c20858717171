"""Test-set metrics of a classifier's predictions: the classification report and the significance of the
differences between models (McNemar, Holm-adjusted)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.config import EvaluateParams
from pipeline.evaluation.stats import holm, mcnemar


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
