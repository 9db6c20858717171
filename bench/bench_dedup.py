"""Near-duplicate detection: datasketch (``pipeline/data/dedup.py``, ``scraping/dedup.py``) against the hand-written
MinHash/LSH they replaced (``bench/_dedup_handwritten.py``), on one core.

- Speed: signatures + grouping (the preprocess stage's path) and the crawl's ``Deduplicator.check`` on
  ``DOCS`` synthetic Arabic documents (~100 words drawn from the demo corpus, a tenth of them planted
  near-copies of an earlier document with 1 to 12 words replaced).
- Quality: recall of the planted pairs whose exact word-3-gram Jaccard reaches the threshold, and grouped
  pairs whose exact Jaccard is below ``threshold - 0.1`` (false merges).
- Memory: peak traced allocations (tracemalloc) of grouping 20k and 100k distinct signatures.
- One big group: 3000 copies of one text with 2 words replaced each (time, and groups found: 1 is right).
- Demo corpus: the groups both find on ``scraping/demo_site/corpus`` at several thresholds, alone and with
  a reposted copy (one word replaced) of every document, and the crawl deduplicator's drops on it; how
  many repost pairs each groups with 8 other permutation seeds (the MinHash noise at the threshold).

Writes ``reports/bench/dedup.json``.
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH
from scipy.cluster.hierarchy import DisjointSet

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _dedup_handwritten as old
from _common import REPO, save, table

from pipeline.config import load_params
from pipeline.data import dedup as new
from pipeline.text.processor import TextProcessor
from scraping.dedup import Deduplicator
from scraping.dedup import shingles as text_shingles
from scraping.demo_site.build import load_corpus

DOCS = 20_000
WORDS_PER_DOC = 100
THRESHOLD = 0.8


def synthetic(n: int, seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    """``n`` texts, a tenth of them near-copies of an earlier one; the (original, copy) index pairs."""
    vocab = [w for d in load_corpus() for w in d["text"].split()]
    rng = random.Random(seed)
    texts: list[str] = []
    pairs: list[tuple[int, int]] = []
    for i in range(n):
        if i > 10 and rng.random() < 0.1:
            j = rng.randrange(i)
            words = texts[j].split()
            for k in rng.sample(range(len(words)), rng.randint(1, 12)):
                words[k] = rng.choice(vocab)
            texts.append(" ".join(words))
            pairs.append((j, i))
        else:
            texts.append(" ".join(rng.choices(vocab, k=WORDS_PER_DOC)))
    return texts, pairs


def jaccard(a: list[str], b: list[str]) -> float:
    sa, sb = new.shingles(a), new.shingles(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def best_time(fn: Callable[[], Any], repeat: int = 2) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def partition(groups: list[int]) -> set[frozenset[int]]:
    members: dict[int, set[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, set()).add(i)
    return {frozenset(m) for m in members.values() if len(m) > 1}


def linked(groups: list[int]) -> set[tuple[int, int]]:
    return {(a, b) for part in partition(groups) for a in part for b in part if a < b}


def grouping_peak_mb(group: Callable[[np.ndarray, float], list[int]], n: int) -> float:
    sigs = np.random.default_rng(n).integers(0, 2**32 - 1, (n, new.NUM_PERM), dtype=np.uint32)
    tracemalloc.start()
    group(sigs, THRESHOLD)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return round(peak / 2**20, 1)


def group_with_minhash_lsh(signatures: np.ndarray, threshold: float) -> list[int]:
    """The rejected all-datasketch grouping: query then insert each document in a ``MinHashLSH``."""
    lsh = MinHashLSH(num_perm=new.NUM_PERM, params=(new.BANDS, new.ROWS))
    sets = DisjointSet(range(len(signatures)))
    sketches = [LeanMinHash(seed=new.SEED, hashvalues=sig, scheme="affine32") for sig in signatures]
    for i, sketch in enumerate(sketches):
        for j in lsh.query(sketch):
            if not sets.connected(i, j) and sketch.jaccard(sketches[j]) >= threshold:
                sets.merge(i, j)
        lsh.insert(i, sketch, check_duplication=False)
    first: dict[int, int] = {}
    return [first.setdefault(sets[i], i) for i in range(len(signatures))]


# name: (signature, grouping); "new" is what pipeline/data/dedup.py does
VARIANTS = {
    "old": (old.signature, old.group_near_duplicates),
    "new": (new.signature, new.group_near_duplicates),
    "datasketch_lsh": (new.signature, group_with_minhash_lsh),
}


def one_big_group(n: int = 3000, seed: int = 0) -> list[list[str]]:
    """``n`` copies of one 100-word text, each with 2 words replaced (pairwise Jaccard ~0.8 to 0.9)."""
    vocab = [w for d in load_corpus() for w in d["text"].split()]
    rng = random.Random(seed)
    base = rng.choices(vocab, k=WORDS_PER_DOC)
    docs = []
    for _ in range(n):
        words = list(base)
        for k in rng.sample(range(WORDS_PER_DOC), 2):
            words[k] = rng.choice(vocab)
        docs.append(words)
    return docs


def speed_and_quality(words: list[list[str]], pairs: list[tuple[int, int]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    big = one_big_group()
    true_j = {p: jaccard(words[p[0]], words[p[1]]) for p in pairs}
    wanted = [p for p, j in true_j.items() if j >= THRESHOLD]
    for name, (signature, group) in VARIANTS.items():
        t_sig, sigs = best_time(lambda signature=signature: np.stack([signature(w) for w in words]))
        t_group, groups = best_time(lambda group=group, sigs=sigs: group(sigs, THRESHOLD))
        links = linked(groups)
        false = [p for p in links if jaccard(words[p[0]], words[p[1]]) < THRESHOLD - 0.1]
        out[name] = {
            "signature_docs_per_s": round(len(words) / t_sig),
            "grouping_docs_per_s": round(len(words) / t_group),
            "preprocess_path_docs_per_s": round(len(words) / (t_sig + t_group)),
            "grouping_peak_mb_20k": grouping_peak_mb(group, 20_000),
            "grouping_peak_mb_100k": grouping_peak_mb(group, 100_000),
            "groups": len(partition(groups)),
            "planted_pairs_at_threshold": len(wanted),
            "planted_pairs_found": sum(p in links for p in wanted),
            "false_merges_below_threshold_minus_0.1": len(false),
        }
        big_sigs = np.stack([signature(w) for w in big])
        t_big, big_groups = best_time(lambda group=group, sigs=big_sigs: group(sigs, THRESHOLD), repeat=1)
        out[name]["one_group_of_3000_grouping_s"] = round(t_big, 2)
        out[name]["one_group_of_3000_groups_found"] = len(set(big_groups))
        out[f"_{name}_groups"] = groups
    return out


def crawl_speed(texts: list[str], pairs: list[tuple[int, int]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    true_j = {}
    for a, b in pairs:
        sa, sb = text_shingles(texts[a]), text_shingles(texts[b])
        true_j[b] = len(sa & sb) / len(sa | sb)
    for name, cls in (("old", old.Deduplicator), ("new", Deduplicator)):
        seconds, drops = best_time(lambda cls=cls: _crawl(cls, texts))
        tracemalloc.start()
        _crawl(cls, texts)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[name] = {
            "check_docs_per_s": round(len(texts) / seconds),
            "peak_mb": round(peak / 2**20, 1),
            "near_duplicates": drops.count("near_duplicate"),
            "exact_duplicates": drops.count("exact_duplicate"),
            "planted_copies_at_threshold": sum(j >= THRESHOLD for j in true_j.values()),
            "planted_copies_flagged": sum(j >= THRESHOLD and drops[b] is not None for b, j in true_j.items()),
            "flagged_below_threshold_minus_0.1": sum(
                j < THRESHOLD - 0.1 and drops[b] is not None for b, j in true_j.items()
            ),
        }
        out[f"_{name}_drops"] = drops
    return out


def _crawl(cls: type, texts: list[str]) -> list[str | None]:
    d = cls()
    return [d.check(t) for t in texts]


def compare(old_groups: list[int], new_groups: list[int], ids: list[str]) -> dict[str, Any]:
    po, pn = partition(old_groups), partition(new_groups)
    named = lambda parts: sorted(sorted(ids[i] for i in p) for p in parts)  # noqa: E731
    return {
        "old_groups": len(po),
        "new_groups": len(pn),
        "same_groups": len(po & pn),
        "only_old": named(po - pn),
        "only_new": named(pn - po),
    }


def seed_spread(words: list[list[str]], threshold: float, seeds: range = range(1, 9)) -> dict[str, list[int]]:
    """Repost pairs (document i and i + n/2) grouped by old and new with other permutation seeds: the noise."""
    half, out = len(words) // 2, {"old": [], "new": []}
    a, b = old._A, old._B
    try:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            old._A = rng.integers(1, 2**31 - 1, old.NUM_PERM, dtype=np.uint64)
            old._B = rng.integers(0, 2**31 - 1, old.NUM_PERM, dtype=np.uint64)
            template = MinHash(num_perm=new.NUM_PERM, seed=seed, hashfunc=zlib.crc32, scheme="affine32")
            for name, sig, group in (
                ("old", old.signature, old.group_near_duplicates),
                ("new", lambda w, t=template: _sig(t, w), new.group_near_duplicates),
            ):
                groups = group(np.stack([sig(w) for w in words]), threshold)
                out[name].append(sum(groups[i] == groups[i + half] for i in range(half)))
    finally:
        old._A, old._B = a, b
    return out


def _sig(template: MinHash, words: list[str]) -> np.ndarray:
    m = template.copy()
    m.update_batch(new.shingles(words))
    return m.hashvalues


def demo_corpus(processor: TextProcessor) -> dict[str, Any]:
    docs = load_corpus()
    rng = random.Random(1)
    reposts = []
    for d in docs:
        words = d["text"].split()
        words[rng.randrange(len(words))] = "معدلة"
        reposts.append({"id": d["id"] + "/repost", "text": " ".join(words)})
    out: dict[str, Any] = {"documents": len(docs)}
    for label, rows in (("corpus", docs), ("corpus_plus_reposts", docs + reposts)):
        ids = [r["id"] for r in rows]
        words = [processor.words(r["text"]) for r in rows]
        sigs = {name: np.stack([mod.signature(w) for w in words]) for name, mod in (("old", old), ("new", new))}
        for threshold in (0.3, 0.5, 0.8):
            out[f"{label}@{threshold}"] = compare(
                old.group_near_duplicates(sigs["old"], threshold),
                new.group_near_duplicates(sigs["new"], threshold),
                ids,
            )
        if label == "corpus_plus_reposts":
            out["repost_pairs_grouped_other_seeds_t0.8"] = seed_spread(words, 0.8)
        texts = [r["text"] for r in rows]
        drops = {name: _crawl(cls, texts) for name, cls in (("old", old.Deduplicator), ("new", Deduplicator))}
        out[f"{label}_crawl_dedup"] = {
            "old_near_duplicates": drops["old"].count("near_duplicate"),
            "new_near_duplicates": drops["new"].count("near_duplicate"),
            "differing_decisions": [ids[i] for i in range(len(ids)) if drops["old"][i] != drops["new"][i]],
        }
    return out


def main() -> None:
    params = load_params(REPO / "params.yaml")
    processor = TextProcessor(params.preprocess)
    texts, pairs = synthetic(DOCS)
    words = [processor.words(t) for t in texts]
    figures: dict[str, Any] = {"documents": DOCS, "words_per_doc": WORDS_PER_DOC, "threshold": THRESHOLD}
    runs = speed_and_quality(words, pairs)
    ids = [str(i) for i in range(DOCS)]
    groups = {name: runs.pop(f"_{name}_groups") for name in VARIANTS}
    figures["preprocess"] = runs
    figures["preprocess"]["old_vs_new_groups"] = _counts(compare(groups["old"], groups["new"], ids))
    figures["preprocess"]["new_equals_datasketch_lsh"] = groups["new"] == groups["datasketch_lsh"]
    crawl = crawl_speed(texts, pairs)
    old_drops, new_drops = crawl.pop("_old_drops"), crawl.pop("_new_drops")
    crawl["decisions_differ"] = sum(a != b for a, b in zip(old_drops, new_drops, strict=True))
    figures["crawl"] = crawl
    figures["demo"] = demo_corpus(processor)
    path = save("dedup", figures)
    print(f"near-duplicates: hand-written (old) vs datasketch, {DOCS} synthetic docs, one core")
    pre = figures["preprocess"]
    table(
        [
            (f"preprocess {key} ({' / '.join(VARIANTS)})", " / ".join(str(pre[v][key]) for v in VARIANTS))
            for key in pre["new"]
        ]
    )
    table([(f"crawl {key} (old / new)", f"{crawl['old'][key]} / {crawl['new'][key]}") for key in crawl["new"]])
    table(
        [
            (f"demo {key}", f"old {v['old_groups']} / new {v['new_groups']} groups, {v['same_groups']} identical")
            for key, v in figures["demo"].items()
            if "@" in key
        ]
    )
    print(f"wrote {path}")


def _counts(diff: dict[str, Any]) -> dict[str, int]:
    return {k: v if isinstance(v, int) else len(v) for k, v in diff.items()}


if __name__ == "__main__":
    main()
