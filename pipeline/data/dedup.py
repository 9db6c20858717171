"""Near-duplicate grouping: datasketch MinHash of word 3-gram sets, LSH banding, scipy ``DisjointSet`` groups.

Used so that near-duplicate texts (the same review posted twice with small edits) land in the same
split. Signatures are datasketch ``MinHash`` values (``affine32`` scheme, crc32 of each 3-gram, fixed
seed: the same text gets the same signature in any process) kept as 64 uint32 values per document
(256 bytes, so 100k documents need about 26 MB).

The banding is hand-written on purpose: datasketch's ``MinHashLSH`` keeps all 16 band tables as
Python dicts of sets at once, about 6 KB per document (``bench/bench_dedup.py``: 591 MB of peak
allocations to group 100k documents against 10 MB here, and about 7x slower on 20k). Here one band
at a time is bucketed with ``numpy.unique``. Two documents are linked when they share a band (16
bands of 4 rows: pairs above ~0.5 Jaccard become candidates) and their estimated Jaccard similarity
reaches the threshold; the groups are the connected components of these links: exactly the groups
a ``MinHashLSH`` query of every document gives (tests/test_dedup.py), whatever the document order.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable

import numpy as np
from datasketch import MinHash
from scipy.cluster.hierarchy import DisjointSet

NUM_PERM = 64
BANDS, ROWS = 16, 4
SEED = 20151203  # fixed: signatures must not depend on params
# Permutations drawn once from SEED and shared by every copy; crc32 hashes each shingle (fast, stable).
_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=zlib.crc32, scheme="affine32")


def shingles(words: list[str], k: int = 3) -> set[bytes]:
    """The distinct word k-grams, UTF-8 encoded (unigrams for texts shorter than k)."""
    n = k if len(words) >= k else 1
    return {" ".join(words[i : i + n]).encode("utf-8") for i in range(len(words) - n + 1)}


def minhash(grams: Iterable[bytes]) -> MinHash:
    """Seeded MinHash of a set of byte strings (an empty set gives the all-max signature)."""
    m = _TEMPLATE.copy()
    m.update_batch(grams)
    return m


def signature(words: list[str]) -> np.ndarray:
    """MinHash hash values (``NUM_PERM`` uint32) of a token list's word 3-grams."""
    return minhash(shingles(words)).hashvalues


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures (``MinHash.jaccard``'s estimate)."""
    return np.count_nonzero(a == b) / len(a)


def _shared_buckets(band: np.ndarray) -> list[np.ndarray]:
    """Row indices of each group of at least two equal rows of ``band`` (n × ROWS), ascending."""
    _, inverse, counts = np.unique(band, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    shared = np.flatnonzero(counts[inverse] > 1)
    shared = shared[np.argsort(inverse[shared], kind="stable")]
    return np.split(shared, np.flatnonzero(np.diff(inverse[shared])) + 1) if len(shared) else []


def _link_bucket(members: list[int], signatures: np.ndarray, threshold: float, sets: DisjointSet) -> None:
    """Merge each member with every earlier member's group holding one at least ``threshold`` similar.

    Earlier members are kept per group, so a bucket of one big near-duplicate group costs one
    comparison per member, not one per pair."""
    groups: dict[int, list[int]] = {}  # a member of each group (its key) → the group's earlier members here
    for i in members:
        sets.add(i)
        mine = [i]
        for key in list(groups):
            if sets.connected(key, i) or any(
                similarity(signatures[i], signatures[j]) >= threshold for j in groups[key]
            ):
                sets.merge(key, i)
                mine += groups.pop(key)
        groups[i] = mine


def near_duplicate_groups(
    signatures: np.ndarray, threshold: float, bands: Callable[[int], np.ndarray] | None = None
) -> np.ndarray:
    """Group id (the smallest member index, int64) for each row of ``signatures`` (n × NUM_PERM, may be an
    ``np.memmap``: only candidate rows are read). ``bands(b)``, when given, returns band ``b``'s columns
    (n × ROWS) without reading the whole matrix into memory."""
    sets = DisjointSet()
    for band in range(BANDS):
        rows = bands(band) if bands else signatures[:, band * ROWS : (band + 1) * ROWS]
        for bucket in _shared_buckets(rows):
            _link_bucket(bucket.tolist(), signatures, threshold, sets)
        del rows
    groups = np.arange(len(signatures), dtype=np.int64)
    for subset in sets.subsets():
        members = np.fromiter(subset, dtype=np.int64, count=len(subset))
        groups[members] = members.min()
    return groups


def group_near_duplicates(
    signatures: np.ndarray, threshold: float, bands: Callable[[int], np.ndarray] | None = None
) -> list[int]:
    """:func:`near_duplicate_groups` as a list."""
    return near_duplicate_groups(signatures, threshold, bands).tolist()
