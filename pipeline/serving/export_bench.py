"""Test macro-F1, p50 latency at batch 1 and 32, and size of one classifier under each runtime.

Runtimes: ``torch-fp32`` (the trained predictor), ``onnx-fp32`` and ``onnx-int8`` (ONNX Runtime on the export
stage's files), ``torch-int8`` (PyTorch dynamic quantisation of LSTM/GRU/Linear, for comparison). Every runtime
is timed in the same process on the same rows, taking turns call by call, with the same intra-op thread count.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.serving.export import OnnxPredictor, onnx_size_mb, quantize_torch

Row = dict[str, Any]
RUNTIMES = ("torch-fp32", "onnx-fp32", "onnx-int8", "torch-int8")


def p50_ms(predictors: dict[str, Any], rows: Sequence[Row], batch: int, calls: int) -> dict[str, float]:
    """Median wall time per runtime of ``calls`` calls on consecutive ``batch``-row slices (cycled), after one
    warm-up call each; the runtimes take turns call by call, so a burst of load on the machine hits them all."""
    slices = [[rows[(i * batch + j) % len(rows)] for j in range(batch)] for i in range(calls + 1)]
    times: dict[str, list[float]] = {name: [] for name in predictors}
    for predictor in predictors.values():
        predictor.predict_proba(slices[0])
    for s in slices[1:]:
        for name, predictor in predictors.items():
            start = time.perf_counter()
            predictor.predict_proba(s)
            times[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def torch_size_mb(predictor: Any) -> float:
    """The serialised ``state_dict`` of the predictor's network (no optimiser state), in MB."""
    import torch

    inner = getattr(predictor, "predictor", predictor)
    net = inner.model if hasattr(inner, "model") else inner.module
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.tell() / 1e6


def predicted(predictor: Any, rows: Sequence[Row]) -> list[int]:
    """The predicted class of every row."""
    return [max(range(len(p)), key=p.__getitem__) for p in predictor.predict_proba(rows)]


def macro_f1(labels: Sequence[int], predictions: Sequence[int]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(labels), list(predictions), average="macro"))


def bench_runtimes(
    base: Any, files: dict[str, Path], rows: Sequence[Row], threads: int, calls: int = 200, timed: bool = True
) -> list[dict[str, Any]]:
    """One row per runtime: ``arch``, ``runtime``, ``macro_f1``, ``size_mb``, ``same_as_fp32`` (the share of rows
    whose predicted class equals PyTorch fp32's) and, when ``timed``,
    ``p50_ms_b1``, ``p50_ms_b32`` (measurements: the export stage leaves them to bench/bench_export.py)."""
    predictors: dict[str, tuple[Any, float]] = {
        "torch-fp32": (base, torch_size_mb(base)),
        "onnx-fp32": (OnnxPredictor(base, files["fp32"], threads), onnx_size_mb(files["fp32"])),
        "onnx-int8": (OnnxPredictor(base, files["int8"], threads), onnx_size_mb(files["int8"])),
    }
    quantised = quantize_torch(base)
    predictors["torch-int8"] = (quantised, torch_size_mb(quantised))
    models = {runtime: predictors[runtime][0] for runtime in RUNTIMES}
    labels = [int(r["label"]) for r in rows]
    classes = {runtime: predicted(models[runtime], rows) for runtime in RUNTIMES}
    reference = classes["torch-fp32"]
    out = [
        {
            "arch": base.arch,
            "runtime": runtime,
            "macro_f1": round(macro_f1(labels, classes[runtime]), 4),
            "size_mb": round(predictors[runtime][1], 3),
            # on a small test split one changed answer moves macro-F1 by points: say how many changed
            "same_as_fp32": round(sum(a == b for a, b in zip(classes[runtime], reference, strict=True)) / len(rows), 4),
        }
        for runtime in RUNTIMES
    ]
    if timed:
        b1, b32 = p50_ms(models, rows, 1, calls), p50_ms(models, rows, 32, max(calls // 3, 3))
        for row in out:
            row.update(p50_ms_b1=round(b1[row["runtime"]], 3), p50_ms_b32=round(b32[row["runtime"]], 3))
    return out
