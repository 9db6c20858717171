"""Preprocessing: documents from the configured source → normalised, tokenised, labelled splits (the
preprocess stage's work; the output formats are in ``pipeline/stages/preprocess.py``'s docstring).

The source is streamed twice: a first pass keeps only 64-bit hashes of ids and texts and class codes in numpy
arrays and spills the MinHash signatures to a temporary file (to drop exact duplicates, group near-duplicates
and assign splits, all with array operations), the data checks run, then a second pass processes the text and writes each document straight to its
split. With ``num_workers`` > 1 both passes send batches of :data:`BATCH` documents to a process pool, at most
:data:`AHEAD` batches per worker in flight, and take the results back in input order: the output is the same
as with one process, and memory holds no text beyond the batches in flight. What still grows with the corpus
is a few tens of bytes per document (hashes, codes, split, group): ``bench/bench_preprocess.py``.
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
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Params, PreprocessParams
from pipeline.data import checks as dc
from pipeline.data.dedup import NUM_PERM, ROWS, near_duplicate_groups, signature
from pipeline.data.jsonl import DataError, write_json
from pipeline.data.labels import ClassMap
from pipeline.data.sources import RawDoc, describe, iter_documents
from pipeline.data.split import SPLITS, TEST, TRAIN, VAL, stratified_codes
from pipeline.text.processor import TextProcessor
from pipeline.text.vocab import Vocab
from pipeline.tracking import tracking_uri

log = logging.getLogger("preprocess")
BATCH = 256  # documents per pool task
AHEAD = 4  # batches in flight per worker: workers never wait for the main process, memory stays bounded
BAND_READ = 1 << 16  # signature rows read at a time when a band is gathered from the spill file
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


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _fingerprint(text: str) -> tuple[int, np.ndarray | None]:
    """Exact-duplicate key and MinHash signature of one text (runs in a worker when there are workers)."""
    assert _worker is not None
    words = _worker.words(text)
    return _hash64(" ".join(words)), (signature(words) if _near else None)


def _fingerprints(texts: list[str]) -> list[tuple[int, np.ndarray | None]]:
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

    def keep(self, mask: np.ndarray) -> None:
        """Rewrite the file with only the rows where ``mask`` is true (block by block)."""
        if mask.all():
            return
        kept = self.path.with_suffix(".kept")
        with kept.open("wb") as fh:
            rows = self.matrix()
            for start in range(0, self.rows, BAND_READ):
                np.ascontiguousarray(rows[start : start + BAND_READ][mask[start : start + BAND_READ]]).tofile(fh)
            del rows
        kept.replace(self.path)
        self.rows = int(np.count_nonzero(mask))

    def band(self, b: int) -> np.ndarray:
        out = np.empty((self.rows, ROWS), dtype=np.uint32)
        with self.path.open("rb") as fh:
            for start in range(0, self.rows, BAND_READ):
                block = np.fromfile(fh, dtype=np.uint32, count=min(BAND_READ, self.rows - start) * NUM_PERM)
                out[start : start + BAND_READ] = block.reshape(-1, NUM_PERM)[:, b * ROWS : (b + 1) * ROWS]
        return out


def first_pass(params: Params, pool: Any, spill: Path) -> dict[str, Any]:
    """Stream the usable documents once: stream index, a 64-bit hash of the id and of the processed text, the
    class value's code (and the predefined split) go to arrays, about 30 bytes a document; the signatures go to
    ``spill`` (when near-duplicates are grouped). Exact duplicates are then dropped (:func:`exact_duplicates`)."""
    near = params.preprocess.split.near_duplicates
    index, id_hash, text_hash = array("q"), array("Q"), array("Q")
    value_code, given = array("i"), array("b")
    distinct: dict[float | str, int] = {}  # class values (labels, or scores) → code: few, whatever the corpus
    sigs = SpilledSignatures(spill)
    dropped: Counter = Counter()
    usable = ((i, doc) for i, doc in enumerate(iter_documents(params)) if _usable(doc, dropped))
    try:
        for batch, prints in _ordered(pool, _fingerprints, _chunks(usable, BATCH)):
            for (i, doc), (key, _) in zip(batch, prints, strict=True):
                value = doc.label if doc.label is not None else doc.score
                index.append(i)
                id_hash.append(_hash64(doc.id))
                text_hash.append(key)
                value_code.append(distinct.setdefault(value, len(distinct)))  # type: ignore[arg-type]
                given.append(SPLITS.index(doc.split) if doc.split else -1)
            if near and batch:
                sigs.append([sig for _, sig in prints])
    finally:
        sigs.close()
    given_codes = _as_array(given, np.int8)
    keep, crossing = exact_duplicates(_as_array(text_hash, np.uint64), given_codes)
    dropped["duplicate"] += int(np.count_nonzero(~keep))
    if near:
        sigs.keep(keep)
    codes = _as_array(value_code, np.int32)[keep]
    return {
        "kept": _as_array(index, np.int64)[keep],
        "id_hash": _as_array(id_hash, np.uint64)[keep],
        "codes": codes,
        "values": list(distinct),
        "counts": np.bincount(codes, minlength=len(distinct)),
        "given": given_codes[keep] if params.data.split_column else None,
        "sigs": sigs,
        "dropped": dropped,
        "exact_crossing": crossing,
    }


def _as_array(values: array, dtype: Any) -> np.ndarray:
    return np.frombuffer(values, dtype=dtype) if len(values) else np.empty(0, dtype=dtype)


def exact_duplicates(keys: np.ndarray, given: np.ndarray) -> tuple[np.ndarray, int]:
    """``(keep mask, duplicates kept across splits)`` for text hashes in stream order and predefined split
    codes (-1: none). A document whose text came earlier is dropped when both are in the same split and that
    split is not test; one that crosses splits (or is inside test) is kept and counted."""
    n = len(keys)
    if not n:
        return np.ones(0, dtype=bool), 0
    order = np.argsort(keys, kind="stable")  # equal keys stay in stream order: the first one leads
    run_start = np.ones(n, dtype=bool)
    run_start[1:] = keys[order][1:] != keys[order][:-1]
    first = np.empty(n, dtype=np.int64)
    first[order] = order[np.maximum.accumulate(np.where(run_start, np.arange(n), 0))]
    del order, run_start
    repeat = first != np.arange(n)
    drop = repeat & (given[first] == given) & (given != TEST)
    return ~drop, int(np.count_nonzero(repeat & ~drop))


def class_map(params: Params, values: list[float | str], counts: np.ndarray | None = None) -> ClassMap:
    """The classes of the distinct class ``values`` (each seen ``counts`` times: quantile bins need them)."""
    if params.data.source != "scrape" and params.data.label_column:
        return ClassMap.from_labels(str(v) for v in values)
    try:
        scores = np.asarray(values, dtype=float)
        return ClassMap.from_params(params.preprocess.bins, scores if counts is None else np.repeat(scores, counts))
    except ValueError as err:
        raise DataError(str(err)) from None


def assign_splits(
    id_hash: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    pp: PreprocessParams,
    seed: int,
    given: np.ndarray | None = None,
) -> np.ndarray:
    """Split code (index into :data:`SPLITS`, int8) per document; whole near-duplicate groups go to one split,
    stratified by label.

    Groups are ordered by the smallest hash of their members' ids, so the result does not depend on the
    order the source yielded the documents in. With ``given`` (a predefined split code per document) those
    splits are kept; when none is val, validation is carved from train (stratified, ``pp.split.val`` of all
    documents).
    """
    labels = np.asarray(labels)
    if given is not None:
        out = np.array(given, dtype=np.int8)
        if not np.any(out == VAL):
            train = np.flatnonzero(out == TRAIN)
            share = pp.split.val * len(out) / len(train) if len(train) else 0.0
            carved = stratified_codes(labels[train], min(share, 0.5), 0.0, seed)
            out[train[carved == VAL]] = VAL
        return out
    groups, id_hash = np.asarray(groups, dtype=np.int64), np.asarray(id_hash, dtype=np.uint64)
    if not len(groups):
        return np.empty(0, dtype=np.int8)
    order = np.lexsort((np.arange(len(groups)), id_hash, groups))  # by group, then id hash
    leads = order[np.r_[True, groups[order][1:] != groups[order][:-1]]]  # each group's member of smallest hash
    del order
    leads = leads[np.lexsort((groups[leads], id_hash[leads]))]  # groups ordered by that hash
    codes = stratified_codes(labels[leads], pp.split.val, pp.split.test, seed)
    per_group = np.zeros(len(groups), dtype=np.int8)
    per_group[groups[leads]] = codes
    return per_group[groups]


def crossing_groups(groups: np.ndarray, split_of: np.ndarray) -> int:
    """Near-duplicate groups with members in more than one split (only a predefined split can make one)."""
    pairs = np.unique(np.asarray(groups, dtype=np.int64) * len(SPLITS) + np.asarray(split_of, dtype=np.int64))
    _, splits = np.unique(pairs // len(SPLITS), return_counts=True)
    return int(np.count_nonzero(splits > 1))


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


def _kept_documents(params: Params, positions: np.ndarray) -> Iterator[tuple[int, RawDoc]]:
    """``(position among kept documents, document)`` of the source's documents at the ``positions`` stream
    indices (ascending), streamed again."""
    kept, k = array("q", positions.astype(np.int64).tobytes()), 0
    for i, doc in enumerate(iter_documents(params)):
        if k < len(kept) and kept[k] == i:
            yield k, doc
            k += 1


def _run(params: Params, pool: Any, spill: Path) -> dict[str, Any]:
    base, pp = params.base, params.preprocess
    meta = first_pass(params, pool, spill)
    if not len(meta["kept"]):
        raise DataError(f"{describe(params)}: no document with text and a score or label")
    classes = class_map(params, meta["values"], meta["counts"])
    try:
        lut = np.array([classes.label_id(v) for v in meta["values"]], dtype=np.int64)
    except ValueError as err:
        raise DataError(str(err)) from None
    labels = lut[meta["codes"]]
    del meta["codes"]
    if pp.split.near_duplicates:
        sigs = meta["sigs"]
        groups = near_duplicate_groups(sigs.matrix(), pp.split.near_duplicate_threshold, sigs.band)
    else:
        groups = np.arange(len(labels), dtype=np.int64)
    split_of = assign_splits(meta["id_hash"], labels, groups, pp, base.seed, meta["given"])
    del meta["id_hash"]
    crossing = {
        "exact": meta["exact_crossing"],
        "near_groups": crossing_groups(groups, split_of) if pp.split.near_duplicates else None,
    }
    group_sizes = np.bincount(groups, minlength=len(groups))
    n_classes = len(classes.labels)
    table = np.bincount(split_of.astype(np.int64) * n_classes + labels, minlength=len(SPLITS) * n_classes)
    planned = {
        name: {lab: int(table[s * n_classes + c]) for c, lab in enumerate(classes.labels)}
        for s, name in enumerate(SPLITS)
    }
    found = [
        *dc.class_checks(planned, params.checks),
        dc.duplicate_check(meta["dropped"]["duplicate"], len(labels) + meta["dropped"]["duplicate"], params.checks),
    ]
    _enforce(params, found)  # before the second pass: nothing is written when these fail
    if not np.any(split_of == TRAIN):
        raise DataError(f"too few documents ({len(labels)}) to make a training split")
    del meta["sigs"]
    spill.unlink(missing_ok=True)

    out = Path(base.processed_dir)
    out.mkdir(parents=True, exist_ok=True)
    handles = {name: (out / f"{name}.jsonl.tmp").open("w", encoding="utf-8") for name in SPLITS}
    counts = {name: Counter() for name in SPLITS}
    class_counts = {name: Counter() for name in SPLITS}
    lengths = {name: array("I") for name in SPLITS}
    lead_ids: dict[int, str] = {}  # id of each near-duplicate group's first member (it comes before the others)
    try:
        wanted = _kept_documents(params, meta["kept"])
        for batch, token_lists in _ordered(pool, _process_batch, _chunks(wanted, BATCH)):
            for (k, doc), tokens in zip(batch, token_lists, strict=True):
                name, label, group = SPLITS[split_of[k]], int(labels[k]), int(groups[k])
                if group == k and group_sizes[k] > 1:
                    lead_ids[k] = doc.id
                row = {
                    "id": doc.id,
                    "url": doc.url,
                    "title": doc.title,
                    "text": doc.text,
                    "score": doc.score,
                    "label": label,
                    "label_name": classes.labels[label],
                    "group": doc.id if group == k else lead_ids[group],
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
        "documents": int(len(labels)),
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
