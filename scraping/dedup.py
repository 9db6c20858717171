"""Exact and near-duplicate detection across a crawl: content hashes plus MinHash/LSH on word shingles.

The same review often appears on two URLs (print view, tracking parameters, a syndicated copy with a
different footer line). Exact copies share the content hash; near copies share most word 5-shingles,
which MinHash estimates (Jaccard similarity) and LSH banding finds without comparing every pair.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict

import numpy as np

from scraping.extract import content_hash

_PRIME = np.uint64(4294967311)  # a prime above 2**32: hashes are 32-bit
_WORD = re.compile(r"\w+")
_DIACRITICS = re.compile(r"[\u064B-\u0652\u0640]")  # harakat and tatweel do not make a text different


def shingles(text: str, size: int = 5) -> set[int]:
    """32-bit hashes of the word ``size``-grams of ``text`` (whole text when shorter)."""
    words = _WORD.findall(_DIACRITICS.sub("", text.lower()))
    if len(words) < size:
        return {zlib.crc32(" ".join(words).encode("utf-8"))} if words else set()
    return {zlib.crc32(" ".join(words[i : i + size]).encode("utf-8")) for i in range(len(words) - size + 1)}


class MinHasher:
    """MinHash signatures with ``num_perm`` seeded universal hash functions (deterministic across runs)."""

    def __init__(self, num_perm: int = 64, seed: int = 1):
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 2**31, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, 2**31, size=num_perm, dtype=np.uint64)

    def signature(self, hashes: set[int]) -> np.ndarray:
        if not hashes:
            return np.full(len(self.a), np.iinfo(np.uint32).max, dtype=np.uint32)
        x = np.fromiter(hashes, dtype=np.uint64, count=len(hashes))
        return ((np.outer(x, self.a) + self.b) % _PRIME).min(axis=0).astype(np.uint32)


class Deduplicator:
    """Remembers the texts it accepted; :meth:`check` says whether a new text repeats one of them.

    ``threshold`` is the estimated Jaccard similarity of word shingles above which a text is a near
    duplicate. Signatures are split into ``bands`` LSH bands; candidates sharing a band are verified
    on the full signature.
    """

    def __init__(self, threshold: float = 0.8, num_perm: int = 64, bands: int = 16, shingle_size: int = 5):
        if num_perm % bands:
            raise ValueError(f"num_perm ({num_perm}) must be a multiple of bands ({bands})")
        self.threshold = threshold
        self.rows = num_perm // bands
        self.bands = bands
        self.shingle_size = shingle_size
        self.hasher = MinHasher(num_perm)
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
        sig = self.hasher.signature(shingles(text, self.shingle_size))
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
