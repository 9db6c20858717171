"""Error analysis: the most confidently wrong documents, examples, the documents to explain and their
token explanations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TEXT_CHARS = 1000  # characters of a document's text kept in the evaluation files


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


def examples(
    rows: Sequence[dict[str, Any]],
    y_true: list[int],
    y_pred: list[int],
    probs: Sequence[Sequence[float]],
    labels: list[str],
    n: int,
) -> list[dict[str, Any]]:
    """The first ``n`` test documents with their true and predicted class and the confidence."""
    return [
        {
            "url": r["url"],
            "text": r["text"][:400],
            "true": labels[t],
            "pred": labels[p],
            "confidence": round(max(pr_), 4),
        }
        for r, t, p, pr_ in list(zip(rows, y_true, y_pred, probs, strict=True))[:n]
    ]
