"""Stage **preprocess**: raw JSON lines → normalised, tokenised, labelled, split documents.

Reads ``base`` and ``preprocess`` params; writes ``<processed_dir>/``:
``train.jsonl``/``val.jsonl``/``test.jsonl`` (one document per line with ``tokens`` and
``label``), ``classes.json`` (the class map), ``vocab.json`` (train split only) and
``summary.json`` (the data summary that reports read).
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pipeline import cli
from pipeline.config import Params, load_params
from pipeline.jsonl import DataError, read_jsonl, write_json, write_jsonl
from pipeline.labels import ClassMap
from pipeline.split import stratified_split
from pipeline.text.processor import TextProcessor
from pipeline.text.vocab import Vocab

log = logging.getLogger("preprocess")
REQUIRED = ("url", "text", "score")


def load_raw(raw_dir: Path) -> tuple[list[dict[str, Any]], Counter]:
    """Read every ``*.jsonl`` in ``raw_dir``; return usable documents and drop counts."""
    files = sorted(raw_dir.glob("*.jsonl"))
    if not files:
        raise DataError(f"{raw_dir}: no *.jsonl files (run the scrape stage first)")
    docs, dropped, seen = [], Counter(), set()
    for path in files:
        for lineno, row in enumerate(read_jsonl(path), 1):
            missing = [k for k in REQUIRED if k not in row]
            if missing:
                raise DataError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            score = row["score"]
            if score is None:
                dropped["no_score"] += 1
                continue
            if not isinstance(score, int | float) or not 0 <= score <= 10:
                raise DataError(f"{path}:{lineno}: score {score!r} is not a number in 0–10")
            if not str(row["text"]).strip():
                dropped["empty_text"] += 1
                continue
            key = row.get("content_hash") or row["text"]
            if key in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(key)
            docs.append(row)
    # Crawl order is not deterministic; sort so the split depends only on content.
    docs.sort(key=lambda d: d["url"])
    return docs, dropped


def _length_stats(lengths: list[int]) -> dict[str, float]:
    if not lengths:
        return {"min": 0, "median": 0, "mean": 0, "max": 0}
    return {
        "min": min(lengths),
        "median": statistics.median(lengths),
        "mean": round(statistics.fmean(lengths), 2),
        "max": max(lengths),
    }


def preprocess(params: Params) -> dict[str, Any]:
    """Run the stage; return the data summary."""
    base, pp = params.base, params.preprocess
    docs, dropped = load_raw(Path(base.raw_dir))
    if not docs:
        raise DataError(f"{base.raw_dir}: no document with text and a score")
    classes = ClassMap.from_params(pp.bins)
    process = TextProcessor(pp)
    rows = []
    for doc in docs:
        tokens = process(doc["text"])
        label = classes.label_id(float(doc["score"]))
        rows.append(
            {
                "id": doc.get("content_hash") or doc["url"],
                "url": doc["url"],
                "title": doc.get("title", ""),
                "text": doc["text"],
                "score": doc["score"],
                "label": label,
                "label_name": classes.labels[label],
                "tokens": tokens,
            }
        )
    parts = stratified_split([r["label"] for r in rows], pp.split.val, pp.split.test, base.seed)
    splits = {name: [rows[i] for i in idx] for name, idx in parts.items()}
    if not splits["train"]:
        raise DataError(f"{base.raw_dir}: too few documents ({len(rows)}) to make a training split")
    vocab = Vocab.build((r["tokens"] for r in splits["train"]), pp.min_token_freq, pp.max_vocab_size)

    out = Path(base.processed_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, split_rows in splits.items():
        write_jsonl(out / f"{name}.jsonl", split_rows)
    write_json(out / "classes.json", classes.to_json())
    vocab.save(out / "vocab.json")

    summary: dict[str, Any] = {
        "documents": len(rows),
        "dropped": dict(dropped),
        "sources": dict(Counter(str(d.get("source") or urlparse(d["url"]).hostname) for d in docs)),
        "classes": classes.to_json()["classes"],
        "vocab_size": len(vocab),
        "splits": {},
    }
    for name, split_rows in splits.items():
        n_tokens = [len(r["tokens"]) for r in split_rows]
        total = sum(n_tokens)
        oov = sum(1 for r in split_rows for t in r["tokens"] if t not in vocab.stoi)
        summary["splits"][name] = {
            "documents": len(split_rows),
            "class_counts": {lab: sum(r["label"] == i for r in split_rows) for i, lab in enumerate(classes.labels)},
            "tokens": total,
            "tokens_per_doc": _length_stats(n_tokens),
            "oov_rate": round(oov / total, 4) if total else 0.0,
        }
    write_json(out / "summary.json", summary)
    log.info(
        "%d documents → train %d / val %d / test %d; vocabulary %d; dropped %s",
        len(rows),
        len(splits["train"]),
        len(splits["val"]),
        len(splits["test"]),
        len(vocab),
        dict(dropped),
    )
    return summary


def main() -> None:
    preprocess(load_params())


if __name__ == "__main__":
    cli.run(main)
