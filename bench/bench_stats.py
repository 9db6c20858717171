"""Benchmark: the evaluate stage's statistics, field libraries against the hand-written code they replaced.

- Bootstrap intervals (accuracy and macro-F1, 1000 resamples, 95%): the old hand-written loop (numpy draws, one
  macro-F1 per resample in Python) against :func:`pipeline.evaluation.stats.bootstrap_ci`
  (``scipy.stats.bootstrap``, paired, percentile, vectorised macro-F1); same seed, largest difference in a bound.
- The macro-F1 statistic inside the bootstrap: scikit-learn's ``f1_score`` once per resample against the
  vectorised :func:`~pipeline.evaluation.stats.macro_f1` over all resamples at once.
- Expected calibration error (10 bins): the old per-bin loop against :func:`~pipeline.evaluation.stats.calibration`
  (torchmetrics); difference in the ECE (random confidences, none on a bin edge).

Sizes: 78 test documents (the demo corpus' test split) up to 10,000 (100,000 for ECE). Best of ``REPEATS`` runs
(default 3). Writes ``reports/bench/stats.json``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save, table

sys.path.insert(0, str(REPO))  # this checkout's pipeline, not another one installed in the venv
from pipeline.evaluation.stats import bootstrap_ci, calibration, macro_f1

REPEATS = int(os.environ.get("REPEATS", "3"))
CLASSES, RESAMPLES, LEVEL, SEED = 3, 1000, 0.95, 42


def best_time(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest of ``REPEATS`` runs in milliseconds, and the last result."""
    times, out = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = fn()
        times.append(1000 * (time.perf_counter() - start))
    return round(min(times), 3), out


def old_macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The hand-written 1-D macro-F1 the old bootstrap called once per resample."""
    tp = np.bincount(y_true[y_true == y_pred], minlength=CLASSES)[:CLASSES].astype(float)
    denom = np.bincount(y_pred, minlength=CLASSES)[:CLASSES] + np.bincount(y_true, minlength=CLASSES)[:CLASSES]
    return float(np.divide(2 * tp, denom, out=np.zeros(CLASSES), where=denom > 0).mean())


def old_bootstrap(yt: np.ndarray, yp: np.ndarray) -> dict[str, dict[str, float]]:
    """The hand-written percentile bootstrap the evaluate stage used before scipy."""
    idx = np.random.default_rng(SEED).integers(0, len(yt), size=(RESAMPLES, len(yt)))
    acc = (yt[idx] == yp[idx]).mean(axis=1)
    f1 = np.array([old_macro_f1(yt[i], yp[i]) for i in idx])
    q = [(1 - LEVEL) / 2, (1 + LEVEL) / 2]
    out = {}
    for name, values in (("accuracy", acc), ("f1_macro", f1)):
        low, high = np.quantile(values, q)
        out[name] = {"low": round(float(low), 4), "high": round(float(high), 4)}
    return out


def old_ece(conf: np.ndarray, ok: np.ndarray, bins: int = 10) -> float:
    """The hand-written (lower, upper] per-bin loop the evaluate stage used before torchmetrics."""
    n, ece = len(conf), 0.0
    which = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += sel.sum() / n * abs(float(ok[sel].mean()) - float(conf[sel].mean()))
    return round(ece, 4)


def predictions(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    yt = rng.integers(0, CLASSES, n)
    return yt, np.where(rng.random(n) < 0.6, yt, rng.integers(0, CLASSES, n))


def bootstrap_rows(rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = []
    for n in (78, 1000, 10_000):
        yt, yp = predictions(n, rng)
        old_ms, old = best_time(lambda yt=yt, yp=yp: old_bootstrap(yt, yp))
        new_ms, new = best_time(lambda yt=yt, yp=yp: bootstrap_ci(yt, yp, CLASSES, RESAMPLES, LEVEL, SEED))
        diff = max(abs(old[m][b] - new[m][b]) for m in old for b in ("low", "high"))
        rows.append({"documents": n, "hand_written_ms": old_ms, "scipy_ms": new_ms, "max_bound_difference": diff})
    return rows


def statistic_rows(rng: np.random.Generator) -> list[dict[str, Any]]:
    from sklearn.metrics import f1_score

    rows = []
    for n in (78, 1000):
        yt, yp = predictions(n, rng)
        idx = rng.integers(0, n, (RESAMPLES, n))
        t, p = yt[idx], yp[idx]
        sk_ms, sk = best_time(
            lambda t=t, p=p: [
                f1_score(a, b, labels=list(range(CLASSES)), average="macro", zero_division=0)
                for a, b in zip(t, p, strict=True)
            ]
        )
        vec_ms, vec = best_time(lambda t=t, p=p: macro_f1(t, p, CLASSES))
        rows.append(
            {
                "documents": n,
                "resamples": RESAMPLES,
                "sklearn_per_resample_ms": sk_ms,
                "vectorised_ms": vec_ms,
                "max_difference": float(np.max(np.abs(np.asarray(sk) - vec))),
            }
        )
    return rows


def ece_rows(rng: np.random.Generator) -> list[dict[str, Any]]:
    calibration([0.5, 0.9], [True, False])  # import torch and torchmetrics outside the timing
    rows = []
    for n in (78, 1000, 10_000, 100_000):
        conf = rng.uniform(1 / CLASSES, 1, n)
        ok = rng.random(n) < conf
        old_ms, old = best_time(lambda conf=conf, ok=ok: old_ece(conf, ok))
        new_ms, new = best_time(lambda conf=conf, ok=ok: calibration(conf, ok, 10)["ece"])
        rows.append(
            {"documents": n, "hand_written_ms": old_ms, "torchmetrics_ms": new_ms, "ece_difference": abs(old - new)}
        )
    return rows


def main() -> None:
    rng = np.random.default_rng(0)
    figures = {
        "settings": {"classes": CLASSES, "resamples": RESAMPLES, "level": LEVEL, "repeats": REPEATS},
        "bootstrap_ci": bootstrap_rows(rng),
        "macro_f1_statistic": statistic_rows(rng),
        "ece": ece_rows(rng),
    }
    path = save("stats", figures)
    for name in ("bootstrap_ci", "macro_f1_statistic", "ece"):
        print(name)
        for row in figures[name]:
            table([(k, v) for k, v in row.items()])
            print()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
