"""Small, pure statistics for the evaluate stage: bootstrap confidence intervals, McNemar's test
(with Holm's correction across comparisons), expected calibration error and per-class PR curves.

Everything takes plain lists/arrays and returns plain Python numbers, so the functions are easy to
test against hand-computed values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Macro-F1 over ``num_classes`` classes (a class with no true and no predicted member scores 0,
    as scikit-learn does with ``zero_division=0``)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    tp = np.bincount(y_true[y_true == y_pred], minlength=num_classes)[:num_classes].astype(float)
    pred = np.bincount(y_pred, minlength=num_classes)[:num_classes].astype(float)
    true = np.bincount(y_true, minlength=num_classes)[:num_classes].astype(float)
    denom = pred + true
    f1 = np.divide(2 * tp, denom, out=np.zeros(num_classes), where=denom > 0)
    return float(f1.mean())


def bootstrap_ci(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    num_classes: int,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Percentile bootstrap intervals for accuracy and macro-F1: ``resamples`` draws of the test
    documents with replacement (seeded), the metric on each, the ``(1-level)/2`` and ``(1+level)/2``
    quantiles. Returns ``{"accuracy": {"low", "high"}, "f1_macro": {"low", "high"}}``."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    yt, yp = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    n = len(yt)
    if n == 0:
        raise ValueError("bootstrap_ci needs at least one document")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    acc = (yt[idx] == yp[idx]).mean(axis=1)
    f1 = np.array([macro_f1(yt[i], yp[i], num_classes) for i in idx])
    q = [(1 - level) / 2, (1 + level) / 2]
    out = {}
    for name, values in (("accuracy", acc), ("f1_macro", f1)):
        low, high = np.quantile(values, q)
        out[name] = {"low": round(float(low), 4), "high": round(float(high), 4)}
    return out


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool], exact_below: int = 25) -> dict[str, Any]:
    """McNemar's test on paired predictions of two models over the same documents.

    ``b`` = documents only A gets right, ``c`` = only B. With ``b + c < exact_below`` the exact
    two-sided binomial test (``scipy.stats.binomtest(b, b + c, 0.5)``); otherwise the chi-square
    statistic with continuity correction ``(|b - c| - 1)^2 / (b + c)`` on one degree of freedom.
    """
    from scipy.stats import binomtest, chi2

    a, bb = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != bb.shape:
        raise ValueError(f"paired predictions differ in length: {a.shape[0]} vs {bb.shape[0]}")
    b, c = int((a & ~bb).sum()), int((~a & bb).sum())
    n = b + c
    if n == 0:
        return {"b": b, "c": c, "method": "none (no discordant pairs)", "statistic": 0.0, "p_value": 1.0}
    if n < exact_below:
        p = binomtest(b, n, 0.5, alternative="two-sided").pvalue
        return {"b": b, "c": c, "method": "exact binomial", "statistic": float(b), "p_value": float(min(1.0, p))}
    stat = (abs(b - c) - 1) ** 2 / n
    p = float(chi2.sf(stat, 1))
    return {"b": b, "c": c, "method": "chi-square, continuity-corrected", "statistic": stat, "p_value": p}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (same order as given), for several comparisons at once."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def calibration(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error over ``bins`` equal-width confidence bins on [0, 1] (a confidence of
    exactly 0 falls in the first bin): ``sum_b |B|/n * |accuracy(B) - mean confidence(B)|``, with the
    reliability diagram's bins (``lower``, ``upper``, ``count``, ``confidence``, ``accuracy``)."""
    conf = np.asarray(confidences, dtype=float)
    ok = np.asarray(correct, dtype=float)
    if conf.shape != ok.shape:
        raise ValueError(f"confidences and correct differ in length: {conf.shape[0]} vs {ok.shape[0]}")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    n = len(conf)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)  # (lower, upper] bins
    ece, table = 0.0, []
    for b in range(bins):
        sel = which == b
        count = int(sel.sum())
        row: dict[str, Any] = {"lower": round(float(edges[b]), 4), "upper": round(float(edges[b + 1]), 4)}
        row["count"] = count
        if count:
            mean_conf, acc = float(conf[sel].mean()), float(ok[sel].mean())
            ece += count / n * abs(acc - mean_conf)
            row.update(confidence=round(mean_conf, 4), accuracy=round(acc, 4))
        table.append(row)
    return {"ece": round(float(ece), 4), "bins": table}


def pr_curves(y_true: Sequence[int], probs: Sequence[Sequence[float]], labels: Sequence[str]) -> dict[str, Any]:
    """One-vs-rest precision-recall curve and average precision per class (scikit-learn)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    yt, pr = np.asarray(y_true, dtype=int), np.asarray(probs, dtype=float)
    out: dict[str, Any] = {}
    for k, label in enumerate(labels):
        positive = yt == k
        if not positive.any():
            out[label] = {"average_precision": None, "precision": [], "recall": [], "thresholds": []}
            continue
        precision, recall, thresholds = precision_recall_curve(positive, pr[:, k])
        out[label] = {
            "average_precision": round(float(average_precision_score(positive, pr[:, k])), 4),
            "precision": [round(float(v), 4) for v in precision],
            "recall": [round(float(v), 4) for v in recall],
            "thresholds": [round(float(v), 4) for v in thresholds],
        }
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return round(float(arr.mean()), 4), round(std, 4)
