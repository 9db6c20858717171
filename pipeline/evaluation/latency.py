"""CPU inference latency of a trained model, in milliseconds per document, at batch 1 and batch 64."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

LATENCY_DOCS = 100  # batch-1 timings over at most this many test documents


def _time_per_doc(predict: Callable[[list[Any]], Any], docs: list[Any], batch_size: int) -> float:
    """Milliseconds per document predicting ``docs`` in batches of ``batch_size`` (after one warm-up)."""
    if batch_size == 1:
        docs = docs[:LATENCY_DOCS]
    else:  # enough documents for at least 3 full batches
        docs = (docs * (1 + (3 * batch_size) // max(1, len(docs))))[: max(len(docs), 3 * batch_size)]
    predict(docs[:batch_size])
    started = time.perf_counter()
    for i in range(0, len(docs), batch_size):
        predict(docs[i : i + batch_size])
    return round(1000 * (time.perf_counter() - started) / len(docs), 4)


def latency(predict: Callable[[list[Any]], Any], docs: list[Any]) -> dict[str, float]:
    """CPU inference latency, ms/document, at batch 1 and batch 64."""
    return {"batch_1": _time_per_doc(predict, docs, 1), "batch_64": _time_per_doc(predict, docs, 64)}


def network_latency(model: Any, items: Sequence[tuple[list[int], int]]) -> dict[str, float]:
    """:func:`latency` of a classifier module over encoded ``(ids, label)`` items."""
    import torch

    from pipeline.models.networks import collate

    model = model.to("cpu").eval()

    def predict(batch: list[tuple[list[int], int]]) -> None:
        with torch.inference_mode():
            b = collate(batch)
            model(b["ids"], b["lengths"]).argmax(-1)

    return latency(predict, list(items))
