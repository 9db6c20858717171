"""Preprocessing: documents from the configured source → normalised, tokenised, labelled splits (the
preprocess stage's work; the output formats are in ``pipeline/stages/preprocess.py``'s docstring).

The source is streamed twice: a first pass keeps only ids, labels and exact-duplicate keys in memory and
spills the MinHash signatures to a temporary file (to drop exact duplicates, group near-duplicates and assign
splits), the data checks run, then a second pass processes the text and writes each document straight to its
split. With ``num_workers`` > 1 both passes send batches of :data:`BATCH` documents to a process pool, at most
:data:`AHEAD` batches per worker in flight, and take the results back in input order: the output is the same
as with one process, and memory holds no text beyond the batches in flight. What still grows with the corpus
is about 200 bytes per document (ids, labels, split, group, the duplicate keys): ``bench/bench_preprocess.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import statistics
import tempfile
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Params, PreprocessParams
from pipeline.data import checks as dc
from pipeline.data.dedup import NUM_PERM, ROWS, group_near_duplicates, signature
from pipeline.data.jsonl import DataError, write_json
from pipeline.data.labels import ClassMap
from pipeline.data.sources import RawDoc, describe, iter_documents
from pipeline.data.split import stratified_split
from pipeline.text.processor import TextProcessor
from pipeline.text.vocab import Vocab
from pipeline.tracking import tracking_uri

log = logging.getLogger("preprocess")
BATCH = 256  # documents per pool task
AHEAD = 4  # batches in flight per worker: workers never wait for the main process, memory stays bounded
BAND_READ = 1 << 16  # signature rows read at a time when a band is gathered from the spill file
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


def _fingerprints(texts: list[str]) -> list[tuple[bytes, np.ndarray | None]]:
    return [_fingerprint(t) for t in texts]


def _process_batch(texts: list[str]) -> list[list[str]]:
    assert _worker is not None
    return [_worker(t) for t in texts]


def _ordered(pool: Any, fn: Callable[[list[str]], list[Any]], batches: Iterator[list[Any]]) -> Iterator[Any]:
    """``(batch, fn(texts of batch))`` in input order; with a pool, up to ``AHEAD`` batches per worker in flight
    (``Pool.imap`` would read the whole source ahead into its task queue)."""
    if pool is None:
        for batch in batches:
            yield batch, fn([doc.text for _, doc in batch])
        return
    pending: deque[tuple[list[Any], Any]] = deque()
    for batch in batches:
        pending.append((batch, pool.apply_async(fn, ([doc.text for _, doc in batch],))))
        if len(pending) >= AHEAD * len(pool._pool):
            done, result = pending.popleft()
            yield done, result.get()
    while pending:
        done, result = pending.popleft()
        yield done, result.get()


class SpilledSignatures:
    """MinHash signatures written row by row to a file, read back one band at a time (sequential reads, not
    kept in memory) or row by row (a memory map: only the candidate pairs' rows are touched)."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, 0
        self._fh: Any = path.open("wb")

    def append(self, block: list[np.ndarray]) -> None:
        np.stack(block).astype(np.uint32, copy=False).tofile(self._fh)
        self.rows += len(block)

    def close(self) -> None:
        self._fh.close()

    def matrix(self) -> np.ndarray:
        if not self.rows:
            return np.empty((0, NUM_PERM), dtype=np.uint32)
        return np.memmap(self.path, dtype=np.uint32, mode="r", shape=(self.rows, NUM_PERM))

    def band(self, b: int) -> np.ndarray:
        out = np.empty((self.rows, ROWS), dtype=np.uint32)
        with self.path.open("rb") as fh:
            for start in range(0, self.rows, BAND_READ):
                block = np.fromfile(fh, dtype=np.uint32, count=min(BAND_READ, self.rows - start) * NUM_PERM)
                out[start : start + BAND_READ] = block.reshape(-1, NUM_PERM)[:, b * ROWS : (b + 1) * ROWS]
        return out


def first_pass(params: Params, pool: Any, spill: Path) -> dict[str, Any]:
    """Stream indices, ids, class values (and predefined splits) of the usable, non-duplicate documents; their
    signatures go to ``spill`` (when near-duplicates are grouped). With a split column, a duplicate is dropped only
    within train or val: one that crosses splits is kept and counted, and the test split is kept as given."""
    near = params.preprocess.split.near_duplicates
    kept = array("q")
    ids: list[str] = []
    values: list[float | str] = []
    given: list[str | None] = []
    sigs = SpilledSignatures(spill)
    seen: dict[bytes, str | None] = {}
    dropped: Counter = Counter()
    crossing = 0
    usable = ((i, doc) for i, doc in enumerate(iter_documents(params)) if _usable(doc, dropped))
    try:
        for batch, prints in _ordered(pool, _fingerprints, _chunks(usable, BATCH)):
            block = []
            for (i, doc), (key, sig) in zip(batch, prints, strict=True):
                if key in seen:
                    if seen[key] == doc.split and doc.split != "test":
                        dropped["duplicate"] += 1
                        continue
                    crossing += 1  # a predefined split's duplicate across splits (or inside test): kept
                seen.setdefault(key, doc.split)
                kept.append(i)
                ids.append(doc.id)
                values.append(doc.label if doc.label is not None else doc.score)  # type: ignore[arg-type]
                given.append(doc.split)
                if near:
                    block.append(sig)
            if block:
                sigs.append(block)
    finally:
        sigs.close()
    return {
        "kept": kept,
        "ids": ids,
        "values": values,
        "given": given if params.data.split_column else None,
        "sigs": sigs,
        "dropped": dropped,
        "exact_crossing": crossing,
    }


def class_map(params: Params, values: list[float | str]) -> ClassMap:
    if params.data.source != "scrape" and params.data.label_column:
        return ClassMap.from_labels(str(v) for v in values)
    try:
        return ClassMap.from_params(params.preprocess.bins, (float(v) for v in values))
    except ValueError as err:
        raise DataError(str(err)) from None


def assign_splits(
    ids: list[str],
    labels: list[int],
    groups: list[int],
    pp: PreprocessParams,
    seed: int,
    given: list[str | None] | None = None,
) -> list[str]:
    """Split name per document; whole near-duplicate groups go to one split, stratified by label.

    Groups are ordered by their smallest member id, so the result does not depend on the
    order the source yielded the documents in. With ``given`` (a predefined split per document) those splits are
    kept; when none is ``val``, validation is carved from train (stratified, ``pp.split.val`` of all documents).
    """
    if given is not None:
        out = [str(g) for g in given]
        if "val" not in out:
            train = [i for i, name in enumerate(out) if name == "train"]
            share = pp.split.val * len(out) / len(train) if train else 0.0
            parts = stratified_split([labels[i] for i in train], min(share, 0.5), 0.0, seed)
            for k in parts["val"]:
                out[train[k]] = "val"
        return out
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


def crossing_groups(groups: Sequence[int], split_of: Sequence[str]) -> int:
    """Near-duplicate groups with members in more than one split (only a predefined split can make one)."""
    splits: dict[int, set[str]] = {}
    for g, name in zip(groups, split_of, strict=True):
        splits.setdefault(g, set()).add(name)
    return sum(len(s) > 1 for s in splits.values())


def _init_worker(pp: PreprocessParams) -> None:
    global _worker, _near
    _worker = TextProcessor(pp)
    _near = pp.split.near_duplicates


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
    workers = pp.num_workers or os.cpu_count() or 1
    pool = mp.get_context("fork").Pool(workers, _init_worker, (pp,)) if workers > 1 else None
    try:
        with tempfile.TemporaryDirectory(prefix="preprocess-") as tmp:
            return _run(params, pool, Path(tmp) / "signatures.u32")
    finally:
        if pool:
            pool.close()
            pool.join()


def _kept_documents(params: Params, kept: array) -> Iterator[tuple[int, RawDoc]]:
    """``(position among kept documents, document)`` of the source's documents at the ``kept`` stream indices
    (ascending), streamed again."""
    k = 0
    for i, doc in enumerate(iter_documents(params)):
        if k < len(kept) and kept[k] == i:
            yield k, doc
            k += 1


def _run(params: Params, pool: Any, spill: Path) -> dict[str, Any]:
    base, pp = params.base, params.preprocess
    meta = first_pass(params, pool, spill)
    if not meta["ids"]:
        raise DataError(f"{describe(params)}: no document with text and a score or label")
    classes = class_map(params, meta["values"])
    try:
        labels = [classes.label_id(v) for v in meta["values"]]
    except ValueError as err:
        raise DataError(str(err)) from None
    if pp.split.near_duplicates:
        sigs = meta["sigs"]
        groups = group_near_duplicates(sigs.matrix(), pp.split.near_duplicate_threshold, sigs.band)
    else:
        groups = list(range(len(labels)))
    split_of = assign_splits(meta["ids"], labels, groups, pp, base.seed, meta["given"])
    crossing = {
        "exact": meta["exact_crossing"],
        "near_groups": crossing_groups(groups, split_of) if pp.split.near_duplicates else None,
    }
    group_sizes = np.bincount(np.asarray(groups, dtype=np.int64), minlength=len(groups))
    groups = array("q", groups)  # 8 bytes a document instead of a list's 36
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
    del meta["sigs"], meta["values"]
    spill.unlink(missing_ok=True)

    out = Path(base.processed_dir)
    out.mkdir(parents=True, exist_ok=True)
    handles = {name: (out / f"{name}.jsonl.tmp").open("w", encoding="utf-8") for name in SPLITS}
    counts = {name: Counter() for name in SPLITS}
    class_counts = {name: Counter() for name in SPLITS}
    lengths = {name: array("I") for name in SPLITS}
    try:
        wanted = _kept_documents(params, meta["kept"])
        for batch, token_lists in _ordered(pool, _process_batch, _chunks(wanted, BATCH)):
            for (k, doc), tokens in zip(batch, token_lists, strict=True):
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
    summary: dict[str, Any] = {
        "source": describe(params),
        "documents": len(labels),
        "dropped": dict(meta["dropped"]),
        "near_duplicates": {
            "groups": int(np.count_nonzero(group_sizes > 1)),
            "documents_grouped": int(group_sizes[group_sizes > 1].sum()),
            "threshold": pp.split.near_duplicate_threshold if pp.split.near_duplicates else None,
        },
        "split_source": f"column {params.data.split_column}" if meta["given"] is not None else "stratified",
        "cross_split_duplicates": crossing if meta["given"] is not None else None,
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
    if summary["cross_split_duplicates"]:
        log.info(
            "splits as given by column %s; across splits: %s exact duplicates kept, %s near-duplicate groups",
            params.data.split_column,
            crossing["exact"],
            crossing["near_groups"],
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
