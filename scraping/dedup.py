"""Exact and near-duplicate detection across a crawl: content hashes plus datasketch MinHash/LSH on word shingles.

The same review often appears on two URLs (print view, tracking parameters, a syndicated copy with a
different footer line). Exact copies share the content hash; near copies share most word 5-shingles,
which MinHash estimates (Jaccard similarity) and LSH banding finds without comparing every pair.
MinHashes are seeded, so a resumed crawl that replays its journal rebuilds the same index.
"""

from __future__ import annotations

import re
import zlib

from datasketch import LeanMinHash, MinHash, MinHashLSH

from scraping.extract import content_hash
from scraping.language import DIACRITICS, TATWEEL

NUM_PERM = 64
SEED = 20151203
_WORD = re.compile(r"\w+")
# Permutations drawn once from SEED and shared by every copy; crc32 hashes each shingle (fast, stable).
_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=zlib.crc32, scheme="affine32")


def shingles(text: str, size: int = 5) -> set[bytes]:
    """The distinct word ``size``-grams of ``text``, UTF-8 encoded (the whole text when shorter)."""
    # harakat and tatweel do not make a text different
    words = _WORD.findall(DIACRITICS.sub("", text.lower()).replace(TATWEEL, ""))
    if len(words) < size:
        return {" ".join(words).encode("utf-8")} if words else set()
    return {" ".join(words[i : i + size]).encode("utf-8") for i in range(len(words) - size + 1)}


def minhash(text: str, size: int = 5) -> LeanMinHash:
    """Seeded MinHash of the word ``size``-shingles of ``text``."""
    m = _TEMPLATE.copy()
    m.update_batch(shingles(text, size))
    return LeanMinHash(m)


class Deduplicator:
    """Remembers the texts it accepted; :meth:`check` says whether a new text repeats one of them.

    ``threshold`` is the estimated Jaccard similarity of word shingles above which a text is a near
    duplicate. Signatures are split into ``bands`` LSH bands (at least 2); candidates sharing a band
    are verified on the full signature.
    """

    def __init__(self, threshold: float = 0.8, bands: int = 16, shingle_size: int = 5):
        if bands < 2 or NUM_PERM % bands:
            raise ValueError(f"the {NUM_PERM} MinHash values must split into at least 2 equal bands, not {bands}")
        self.threshold = threshold
        self.shingle_size = shingle_size
        self.hashes: set[str] = set()
        self.sketches: list[LeanMinHash] = []
        self.lsh = MinHashLSH(num_perm=NUM_PERM, params=(bands, NUM_PERM // bands))

    def __len__(self) -> int:
        return len(self.hashes)

    def check(self, text: str, digest: str | None = None, add: bool = True) -> str | None:
        """``exact_duplicate``, ``near_duplicate`` or None (new: remembered when ``add``)."""
        digest = digest or content_hash(text)
        if digest in self.hashes:
            return "exact_duplicate"
        sketch = minhash(text, self.shingle_size)
        if any(self.sketches[i].jaccard(sketch) >= self.threshold for i in self.lsh.query(sketch)):
            return "near_duplicate"
        if add:
            self.hashes.add(digest)
            self.lsh.insert(len(self.sketches), sketch, check_duplication=False)
            self.sketches.append(sketch)
        return None
