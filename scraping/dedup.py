"""Exact and near-duplicate detection across a crawl: content hashes plus MinHash/LSH on word shingles
(the MinHash functions are shared with the preprocess stage's near-duplicate grouping, ``pipeline.data.dedup``).

The same review often appears on two URLs (print view, tracking parameters, a syndicated copy with a
different footer line). Exact copies share the content hash; near copies share most word 5-shingles,
which MinHash estimates (Jaccard similarity) and LSH banding finds without comparing every pair.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict

import numpy as np

from pipeline.data.dedup import NUM_PERM, minhash
from pipeline.text.normalize import DIACRITICS, TATWEEL
from scraping.extract import content_hash

_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = 5) -> set[int]:
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
        sig = minhash(np.fromiter(shingles(text, self.shingle_size), dtype=np.uint64))
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
