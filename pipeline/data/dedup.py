"""Near-duplicate grouping: MinHash signatures of word 3-gram sets, LSH banding, union-find.

Used so that near-duplicate texts (the same review posted twice with small edits) land in
the same split. Signatures are 64 uint32 values per document (256 bytes), so grouping
100k documents needs about 26 MB.
"""

from __future__ import annotations

import zlib
from collections import defaultdict

import numpy as np

NUM_PERM = 64
BANDS, ROWS = 16, 4  # 16 bands of 4 rows: pairs above ~0.5 Jaccard become candidates
_PRIME = np.uint64(2**31 - 1)  # (a*x + b) mod p with a, b, x < 2^31 never overflows uint64
_rng = np.random.default_rng(20151203)  # fixed: signatures must not depend on params
_A = _rng.integers(1, 2**31 - 1, NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, 2**31 - 1, NUM_PERM, dtype=np.uint64)
_EMPTY = np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint32)


def shingles(words: list[str], k: int = 3) -> np.ndarray:
    """crc32 hashes of the distinct word k-grams (unigrams for texts shorter than k)."""
    n = k if len(words) >= k else 1
    grams = {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}
    return np.fromiter((zlib.crc32(g.encode("utf-8")) for g in grams), dtype=np.uint64, count=len(grams))


def minhash(hashes: np.ndarray) -> np.ndarray:
    """MinHash signature of a set of 32-bit shingle hashes (universal hashing modulo 2^31 - 1)."""
    x = np.asarray(hashes, dtype=np.uint64) % _PRIME
    if x.size == 0:
        return _EMPTY.copy()
    return ((_A[:, None] * x[None, :] + _B[:, None]) % _PRIME).min(axis=1).astype(np.uint32)


def signature(words: list[str]) -> np.ndarray:
    """MinHash signature of a token list's word 3-grams."""
    return minhash(shingles(words))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(a == b))


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def group_near_duplicates(signatures: np.ndarray, threshold: float) -> list[int]:
    """Group id (the smallest member index) for each row of ``signatures`` (n × NUM_PERM)."""
    n = len(signatures)
    uf = UnionFind(n)
    for band in range(BANDS):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        cols = signatures[:, band * ROWS : (band + 1) * ROWS]
        for i in range(n):
            buckets[cols[i].tobytes()].append(i)
        for members in buckets.values():
            if len(members) < 2:
                continue
            first = members[0]
            for other in members[1:]:
                if uf.find(first) != uf.find(other) and similarity(signatures[first], signatures[other]) >= threshold:
                    uf.union(first, other)
    return [uf.find(i) for i in range(n)]
