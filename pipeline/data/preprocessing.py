"""Preprocessing: documents from the configured source → normalised, tokenised, labelled splits (the
preprocess stage's work; the output formats are in ``pipeline/stages/preprocess.py``'s docstring).

The source is streamed twice: a first pass keeps only ids, labels and MinHash signatures (to drop exact
duplicates, group near-duplicates and assign splits), the data checks run, then a second pass processes the
text in chunks (in ``num_workers`` processes) and writes each document straight to its split. Memory holds no
text beyond one chunk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import statistics
from array import array
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Params, PreprocessParams
from pipeline.data import checks as dc
from pipeline.data.dedup import NUM_PERM, group_near_duplicates, signature
from pipeline.data.jsonl import DataError, write_json
from pipeline.data.labels import ClassMap
from pipeline.data.sources import RawDoc, describe, iter_documents
from pipeline.data.split import stratified_split
from pipeline.text.processor import TextProcessor
from pipeline.text.vocab import Vocab
from pipeline.tracking import tracking_uri

log = logging.getLogger("preprocess")
CHUNK = 2048
SPLITS = ("train", "val", "test")
_worker: TextProcessor | None = None  # the processor of this process (the main one or a pool worker)
_near = True


def _usable(doc: RawDoc, dropped: Counter) -> bool:
    if doc.score is None and doc.label is None:
        dropped["no_score"] += 1
        return False
    if not doc.text.strip():
        dropped["empty_text"] += 1
        return False
    return True


def _text_key(words: list[str]) -> bytes:
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=12).digest()


def _fingerprint(text: str) -> tuple[bytes, np.ndarray | None]:
    """Exact-duplicate key and MinHash signature of one text (runs in a worker when there are workers)."""
    assert _worker is not None
    words = _worker.words(text)
    return _text_key(words), (signature(words) if _near else None)


def first_pass(params: Params, pool: Any) -> dict[str, Any]:
    """Ids, class values and signatures of the usable, non-duplicate documents."""
    near = params.preprocess.split.near_duplicates
    kept: list[int] = []
    ids: list[str] = []
    values: list[float | str] = []
    sig_blocks: list[np.ndarray] = []
    seen: set[bytes] = set()
    dropped: Counter = Counter()
    usable = ((i, doc) for i, doc in enumerate(iter_documents(params)) if _usable(doc, dropped))
    for chunk in _chunks(usable, CHUNK):
        texts = [doc.text for _, doc in chunk]
        prints = pool.map(_fingerprint, texts, chunksize=64) if pool else [_fingerprint(t) for t in texts]
        block = []
        for (i, doc), (key, sig) in zip(chunk, prints, strict=True):
            if key in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(key)
            kept.append(i)
            ids.append(doc.id)
            values.append(doc.label if doc.label is not None else doc.score)  # type: ignore[arg-type]
            if near:
                block.append(sig)
        if block:
            sig_blocks.append(np.stack(block))
    sigs = np.vstack(sig_blocks) if sig_blocks else np.empty((0, NUM_PERM), dtype=np.uint32)
    return {"kept": kept, "ids": ids, "values": values, "sigs": sigs, "dropped": dropped}


def class_map(params: Params, values: list[float | str]) -> ClassMap:
    if params.data.source != "scrape" and params.data.label_column:
        return ClassMap.from_labels(str(v) for v in values)
    try:
        return ClassMap.from_params(params.preprocess.bins, (float(v) for v in values))
    except ValueError as err:
        raise DataError(str(err)) from None


def assign_splits(ids: list[str], labels: list[int], groups: list[int], pp: PreprocessParams, seed: int) -> list[str]:
    """Split name per document; whole near-duplicate groups go to one split, stratified by label.

    Groups are ordered by their smallest member id, so the result does not depend on the
    order the source yielded the documents in.
    """
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    keys = sorted(members, key=lambda g: min(ids[i] for i in members[g]))
    group_labels = [labels[min(members[g], key=lambda i: ids[i])] for g in keys]
    parts = stratified_split(group_labels, pp.split.val, pp.split.test, seed)
    out = [""] * len(ids)
    for name, idx in parts.items():
        for k in idx:
            for i in members[keys[k]]:
                out[i] = name
    return out


def _init_worker(pp: PreprocessParams) -> None:
    global _worker, _near
    _worker = TextProcessor(pp)
    _near = pp.split.near_duplicates


def _process(text: str) -> list[str]:
    assert _worker is not None
    return _worker(text)


def _chunks(it: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(it, size)):
        yield chunk


def _summary_lengths(lengths: array) -> dict[str, float]:
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
    pp = params.preprocess
    _init_worker(pp)
    process = _worker
    assert process is not None
    workers = pp.num_workers or os.cpu_count() or 1
    pool = mp.get_context("fork").Pool(workers, _init_worker, (pp,)) if workers > 1 else None
    try:
        return _run(params, process, pool)
    finally:
        if pool:
            pool.close()
            pool.join()


def _run(params: Params, process: TextProcessor, pool: Any) -> dict[str, Any]:
    base, pp = params.base, params.preprocess
    meta = first_pass(params, pool)
    if not meta["ids"]:
        raise DataError(f"{describe(params)}: no document with text and a score or label")
    classes = class_map(params, meta["values"])
    try:
        labels = [classes.label_id(v) for v in meta["values"]]
    except ValueError as err:
        raise DataError(str(err)) from None
    if pp.split.near_duplicates:
        groups = group_near_duplicates(meta["sigs"], pp.split.near_duplicate_threshold)
    else:
        groups = list(range(len(labels)))
    split_of = assign_splits(meta["ids"], labels, groups, pp, base.seed)
    planned = {name: dict.fromkeys(classes.labels, 0) for name in SPLITS}
    for name, label in zip(split_of, labels, strict=True):
        planned[name][classes.labels[label]] += 1
    found = [
        *dc.class_checks(planned, params.checks),
        dc.duplicate_check(meta["dropped"]["duplicate"], len(labels) + meta["dropped"]["duplicate"], params.checks),
    ]
    _enforce(params, found)  # before the second pass: nothing is written when these fail
    if "train" not in split_of:
        raise DataError(f"too few documents ({len(labels)}) to make a training split")
    position = {stream_index: k for k, stream_index in enumerate(meta["kept"])}
    del meta["sigs"]

    out = Path(base.processed_dir)
    out.mkdir(parents=True, exist_ok=True)
    handles = {name: (out / f"{name}.jsonl.tmp").open("w", encoding="utf-8") for name in SPLITS}
    counts = {name: Counter() for name in SPLITS}
    class_counts = {name: Counter() for name in SPLITS}
    lengths = {name: array("I") for name in SPLITS}
    try:
        wanted = ((position[i], doc) for i, doc in enumerate(iter_documents(params)) if i in position)
        for chunk in _chunks(wanted, CHUNK):
            texts = [doc.text for _, doc in chunk]
            token_lists = pool.map(_process, texts, chunksize=64) if pool else [process(t) for t in texts]
            for (k, doc), tokens in zip(chunk, token_lists, strict=True):
                name, label = split_of[k], labels[k]
                row = {
                    "id": doc.id,
                    "url": doc.url,
                    "title": doc.title,
                    "text": doc.text,
                    "score": doc.score,
                    "label": label,
                    "label_name": classes.labels[label],
                    "group": meta["ids"][groups[k]],
                    "tokens": tokens,
                }
                handles[name].write(json.dumps(row, ensure_ascii=False) + "\n")
                counts[name].update(tokens)
                class_counts[name][label] += 1
                lengths[name].append(len(tokens))
    finally:
        for fh in handles.values():
            fh.close()
    arabic, words = dc.arabic_counts(sum(counts.values(), Counter()))
    found.append(dc.arabic_check(arabic, words, params.checks))
    totals = {lab: sum(planned[name][lab] for name in SPLITS) for lab in classes.labels}
    previous = dc.previous_shares(tracking_uri(base), params.registry.model_name, params.registry.alias)
    found.append(dc.drift_check(dc.shares(totals), previous, params.checks))
    try:
        _enforce(params, found)
    except DataError:
        for name in SPLITS:
            (out / f"{name}.jsonl.tmp").unlink(missing_ok=True)
        raise
    for name in SPLITS:
        (out / f"{name}.jsonl.tmp").replace(out / f"{name}.jsonl")

    vocab = Vocab.build_from_counts(counts["train"], pp.min_token_freq, pp.max_vocab_size)
    write_json(out / "classes.json", classes.to_json())
    vocab.save(out / "vocab.json")
    group_sizes = Counter(groups)
    summary: dict[str, Any] = {
        "source": describe(params),
        "documents": len(labels),
        "dropped": dict(meta["dropped"]),
        "near_duplicates": {
            "groups": sum(1 for s in group_sizes.values() if s > 1),
            "documents_grouped": sum(s for s in group_sizes.values() if s > 1),
            "threshold": pp.split.near_duplicate_threshold if pp.split.near_duplicates else None,
        },
        "class_map": {"kind": classes.kind, "method": classes.method},
        "classes": classes.ranges(),
        "vocab_size": len(vocab),
        "stemmer": pp.stemmer,
        "label_distribution": dc.shares(totals),
        "checks": dc.report(found),
        "splits": {},
    }
    for name in SPLITS:
        total = sum(counts[name].values())
        oov = sum(c for t, c in counts[name].items() if t not in vocab.stoi)
        summary["splits"][name] = {
            "documents": len(lengths[name]),
            "class_counts": {lab: class_counts[name][i] for i, lab in enumerate(classes.labels)},
            "tokens": total,
            "token_types": len(counts[name]),
            "tokens_per_doc": _summary_lengths(lengths[name]),
            "oov_rate": round(oov / total, 4) if total else 0.0,
        }
    write_json(out / "summary.json", summary)
    write_json(Path(base.reports_dir) / "data_summary.json", summary)
    log_summary(params, summary)
    s = summary["splits"]
    log.info(
        "%d documents → train %d / val %d / test %d; vocabulary %d; dropped %s; %d near-duplicate groups",
        len(labels),
        s["train"]["documents"],
        s["val"]["documents"],
        s["test"]["documents"],
        len(vocab),
        dict(meta["dropped"]),
        summary["near_duplicates"]["groups"],
    )
    return summary


def _enforce(params: Params, found: list[dc.Check]) -> None:
    """Write ``<reports_dir>/data_checks.json`` and stop with one line if a check failed."""
    write_json(Path(params.base.reports_dir) / "data_checks.json", dc.report(found))
    dc.enforce(found, ", ".join(f"{k}={v}" for k, v in describe(params).items() if v is not None))


def log_summary(params: Params, summary: dict[str, Any]) -> None:
    """One MLflow run, ``preprocess``, with the summary's figures and the JSON as an artifact."""
    from pipeline.tracking import flat_params, provenance_tags, setup_mlflow

    setup_mlflow(params.base)
    import mlflow

    metrics = {
        "documents": summary["documents"],
        "vocab_size": summary["vocab_size"],
        "near_duplicate_groups": summary["near_duplicates"]["groups"],
    }
    metrics.update({f"dropped/{k}": v for k, v in summary["dropped"].items()})
    for name, s in summary["splits"].items():
        metrics.update(
            {f"{name}/documents": s["documents"], f"{name}/tokens": s["tokens"], f"{name}/oov_rate": s["oov_rate"]}
        )
    with mlflow.start_run(run_name="preprocess", tags={**provenance_tags(params.base.seed), "stage": "preprocess"}):
        mlflow.log_params(flat_params(params, ("data", "preprocess")))
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(Path(params.base.reports_dir) / "data_summary.json"))
