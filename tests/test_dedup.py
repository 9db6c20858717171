"""Near-duplicate detection on datasketch: seeded signatures, grouping, the crawl's deduplicator."""

from __future__ import annotations

import random
import subprocess
import sys
import zlib

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH
from scipy.cluster.hierarchy import DisjointSet

from pipeline.data.dedup import BANDS, NUM_PERM, ROWS, SEED, group_near_duplicates, shingles, signature
from scraping.dedup import Deduplicator
from tests.conftest import REPO, make_raw_docs

WORDS = [w for d in make_raw_docs(200) for w in d["text"].split()]


def planted(n: int, seed: int = 0) -> tuple[list[list[str]], list[tuple[int, int]]]:
    """``n`` random 60-word texts, every fifth one a copy of an earlier original with one word changed."""
    rng = random.Random(seed)
    texts: list[list[str]] = []
    pairs = []
    for i in range(n):
        if i and i % 5 == 0:
            j = rng.choice([k for k in range(i) if k % 5])
            copy = list(texts[j])
            copy[rng.randrange(len(copy))] = "معدلة"
            texts.append(copy)
            pairs.append((j, i))
        else:
            texts.append(rng.choices(WORDS, k=60))
    return texts, pairs


def lsh_groups(sigs: np.ndarray, threshold: float) -> list[int]:
    """Reference: query then insert every document in a datasketch ``MinHashLSH``, merge verified candidates."""
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, ROWS))
    sets = DisjointSet(range(len(sigs)))
    sketches = [LeanMinHash(seed=SEED, hashvalues=s, scheme="affine32") for s in sigs]
    for i, sketch in enumerate(sketches):
        for j in lsh.query(sketch):
            if sketch.jaccard(sketches[j]) >= threshold:
                sets.merge(i, j)
        lsh.insert(i, sketch)
    return [min(sets.subset(i)) for i in range(len(sigs))]


def test_signature_is_a_seeded_datasketch_minhash_and_the_same_in_another_process():
    words = ["الفندق", "نظيف", "جدا", "والموظفون", "ودودون", "لكن", "الإفطار", "كان", "باردا"]
    reference = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=zlib.crc32)
    reference.update_batch(shingles(words))
    sig = signature(words)
    assert sig.dtype == np.uint32 and sig.shape == (NUM_PERM,)
    assert np.array_equal(sig, reference.hashvalues)
    code = f"from pipeline.data.dedup import signature; print(signature({words!r}).tolist())"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(sig.tolist())
    assert signature([]).tolist() == [2**32 - 1] * NUM_PERM  # empty: the all-max signature


def test_grouping_finds_planted_near_duplicates_and_equals_a_minhash_lsh_index():
    texts, pairs = planted(300)
    sigs = np.stack([signature(t) for t in texts])
    groups = group_near_duplicates(sigs, 0.7)  # one word in 60 changed: ~0.9 Jaccard of 3-grams
    assert groups == lsh_groups(sigs, 0.7)
    assert all(groups[a] == groups[b] for a, b in pairs)
    assert len(set(groups)) == 300 - len(pairs)  # nothing else merged
    assert all(g == min(i for i, h in enumerate(groups) if h == g) for g in groups)  # id: smallest member


def test_grouping_does_not_depend_on_document_order():
    texts, _ = planted(200, seed=1)
    sigs = np.stack([signature(t) for t in texts])
    order = np.random.default_rng(0).permutation(len(texts))
    groups, shuffled = group_near_duplicates(sigs, 0.7), group_near_duplicates(sigs[order], 0.7)

    def partition(ids: list[int], names: np.ndarray) -> set[frozenset[int]]:
        return {frozenset(int(names[i]) for i, h in enumerate(ids) if h == g) for g in set(ids)}

    assert partition(groups, np.arange(len(texts))) == partition(shuffled, order)
    assert group_near_duplicates(np.empty((0, NUM_PERM), dtype=np.uint32), 0.8) == []


def test_crawl_deduplicator_replays_to_the_same_decisions():
    words, pairs = planted(120, seed=2)
    texts = [" ".join(t) for t in words]
    first, second = Deduplicator(0.7), Deduplicator(0.7)
    decisions = [first.check(t) for t in texts]
    assert decisions == [second.check(t) for t in texts]
    assert [i for i, d in enumerate(decisions) if d] == [copy for _, copy in pairs]  # ~0.84 Jaccard of 5-grams
    assert len(first) == 120 - decisions.count("near_duplicate")


@pytest.mark.parametrize("bands", [1, 5, 128])
def test_crawl_deduplicator_needs_equal_bands(bands):
    with pytest.raises(ValueError, match="equal bands"):
        Deduplicator(bands=bands)


def test_crawl_shingles_ignore_the_marks_the_normaliser_removes():
    from pipeline.text import normalize
    from scraping import language
    from scraping.dedup import shingles as crawl_shingles

    assert language.DIACRITICS.pattern == normalize.DIACRITICS.pattern and language.TATWEEL == normalize.TATWEEL
    assert crawl_shingles("الفُنْدُقُ نظيـــف جداً", 2) == crawl_shingles("الفندق نظيف جدا", 2)
