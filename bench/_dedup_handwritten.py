"""The hand-written MinHash/LSH that ``pipeline/data/dedup.py`` and ``scraping/dedup.py`` had before datasketch
(commit 77c6cf5), kept verbatim as the reference ``bench_dedup.py`` compares against. Not used by the pipeline.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict

import numpy as np

from scraping.extract import content_hash
from scraping.language import DIACRITICS, TATWEEL

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


# --- scraping/dedup.py ---

_WORD = re.compile(r"\w+")


def text_shingles(text: str, size: int = 5) -> set[int]:
    """32-bit hashes of the word ``size``-grams of ``text`` (whole text when shorter)."""
    # harakat and tatweel do not make a text different
    words = _WORD.findall(DIACRITICS.sub("", text.lower()).replace(TATWEEL, ""))
    if len(words) < size:
        return {zlib.crc32(" ".join(words).encode("utf-8"))} if words else set()
    return {zlib.crc32(" ".join(words[i : i + size]).encode("utf-8")) for i in range(len(words) - size + 1)}


class Deduplicator:
    """Remembers the texts it accepted; :meth:`check` says whether a new text repeats one of them.

    ``threshold`` is the estimated Jaccard similarity of word shingles above which a text is a near
    duplicate. Signatures are split into ``bands`` LSH bands; candidates sharing a band are verified
    on the full signature.
    """

    def __init__(self, threshold: float = 0.8, bands: int = 16, shingle_size: int = 5):
        if NUM_PERM % bands:
            raise ValueError(f"the {NUM_PERM} MinHash values must split into equal bands, not {bands}")
        self.threshold = threshold
        self.rows = NUM_PERM // bands
        self.bands = bands
        self.shingle_size = shingle_size
        self.hashes: set[str] = set()
        self.signatures: list[np.ndarray] = []
        self.buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self.hashes)

    def check(self, text: str, digest: str | None = None, add: bool = True) -> str | None:
        """``exact_duplicate``, ``near_duplicate`` or None (new: remembered when ``add``)."""
        digest = digest or content_hash(text)
        if digest in self.hashes:
            return "exact_duplicate"
        sig = minhash(np.fromiter(text_shingles(text, self.shingle_size), dtype=np.uint64))
        keys = [(b, sig[b * self.rows : (b + 1) * self.rows].tobytes()) for b in range(self.bands)]
        candidates = {i for key in keys for i in self.buckets.get(key, ())}
        for i in candidates:
            if float(np.mean(self.signatures[i] == sig)) >= self.threshold:
                return "near_duplicate"
        if add:
            self.hashes.add(digest)
            index = len(self.signatures)
            self.signatures.append(sig)
            for key in keys:
                self.buckets[key].append(index)
        return None
