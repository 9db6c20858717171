"""The pretraining corpus: every document of the data source (labelled or not) plus the text files
of ``pretrain.corpus_dir``, minus the test split's documents and their (near-)duplicates.

Excluding the test documents keeps the held-out evaluation clean: the encoder never sees a test
text, even without its label. A document is excluded when its id is a test id, when its normalised
words equal a test document's, or when its estimated word-3-gram Jaccard similarity to a test
document reaches ``preprocess.split.near_duplicate_threshold`` (the threshold the split uses).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.config import Params
from pipeline.data.dedup import NUM_PERM, signature
from pipeline.data.jsonl import DataError, read_jsonl
from pipeline.data.sources import iter_documents
from pipeline.data.split import read_split
from pipeline.text.normalize import Normalizer
from pipeline.text.tokenize import tokenize

CHUNK = 512  # documents compared against all test signatures at once


@dataclass
class Corpus:
    """Normalisable raw texts for pretraining, sorted (independent of crawl order), and what was left out."""

    texts: list[str]
    excluded_test: int = 0
    duplicates: int = 0
    empty: int = 0
    sources: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, int | dict[str, int]]:
        return {
            "documents": len(self.texts),
            "excluded_test": self.excluded_test,
            "duplicates": self.duplicates,
            "empty": self.empty,
            "sources": self.sources,
        }


def _key(words: list[str]) -> bytes:
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=12).digest()


def iter_corpus_file(path: Path) -> Iterator[tuple[str, str]]:
    """``(id, text)`` of an extra corpus file: ``.txt`` (a document per line) or ``.jsonl`` (``text``)."""
    if path.suffix == ".jsonl":
        for lineno, row in enumerate(read_jsonl(path), 1):
            if not isinstance(row.get("text"), str):
                raise DataError(f"{path}:{lineno}: expected a string `text` field")
            yield f"{path}:{lineno}", row["text"]
    elif path.suffix == ".txt":
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                yield f"{path}:{lineno}", line


def corpus_files(folder: Path) -> list[Path]:
    """The ``.txt`` and ``.jsonl`` files under ``folder`` (none if it does not exist), sorted."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".txt", ".jsonl"))


class TestFilter:
    """Tells whether a text is (a near-duplicate of) a test document."""

    def __init__(self, test_rows: list[dict], normalizer: Normalizer, threshold: float | None) -> None:
        self.normalizer, self.threshold = normalizer, threshold
        self.ids = {str(r["id"]) for r in test_rows}
        words = [tokenize(normalizer(r["text"])) for r in test_rows]
        self.keys = {_key(w) for w in words}
        self.sigs = (
            np.stack([signature(w) for w in words])
            if words and threshold is not None
            else np.empty((0, NUM_PERM), dtype=np.uint32)
        )

    def near(self, signatures: np.ndarray) -> np.ndarray:
        """For each row of ``signatures``, whether some test signature is at least ``threshold`` similar."""
        if not len(self.sigs) or not len(signatures):
            return np.zeros(len(signatures), dtype=bool)
        out = []
        for i in range(0, len(signatures), CHUNK):
            block = signatures[i : i + CHUNK]
            sim = (block[:, None, :] == self.sigs[None, :, :]).mean(axis=2)
            out.append(sim.max(axis=1) >= self.threshold)  # type: ignore[operator]
        return np.concatenate(out)


def build_corpus(params: Params) -> Corpus:
    """The pretraining texts (raw, not normalised: the tokenizer side normalises them)."""
    normalizer = Normalizer(**params.preprocess.normalize.model_dump())
    test_path = Path(params.base.processed_dir) / "test.jsonl"
    if not test_path.is_file():
        raise DataError(f"{test_path}: not found (run the preprocess stage first: its test split is excluded)")
    split = params.preprocess.split
    filt = TestFilter(
        read_split(test_path), normalizer, split.near_duplicate_threshold if split.near_duplicates else None
    )

    def documents() -> Iterator[tuple[str, str, str]]:
        for doc in iter_documents(params):
            yield "source", doc.id, doc.text
        for path in corpus_files(Path(params.pretrain.corpus_dir)):
            for doc_id, text in iter_corpus_file(path):
                yield path.name, doc_id, text

    corpus = Corpus(texts=[])
    seen: set[bytes] = set()
    kept: list[tuple[str, str]] = []  # (text, source)
    kept_sigs: list[np.ndarray] = []
    for source, doc_id, text in documents():
        words = tokenize(normalizer(text))
        if not words:
            corpus.empty += 1
            continue
        key = _key(words)
        if doc_id in filt.ids or key in filt.keys:
            corpus.excluded_test += 1
            continue
        if key in seen:
            corpus.duplicates += 1
            continue
        seen.add(key)
        kept.append((text.strip(), source))
        kept_sigs.append(signature(words) if filt.threshold is not None else np.empty(0))
    near = filt.near(np.stack(kept_sigs)) if kept_sigs and filt.threshold is not None else np.zeros(len(kept), bool)
    corpus.excluded_test += int(near.sum())
    chosen = sorted(kept[i] for i in range(len(kept)) if not near[i])
    corpus.texts = [text for text, _ in chosen]
    for _, source in chosen:
        corpus.sources[source] = corpus.sources.get(source, 0) + 1
    return corpus


def corpus_digest(texts: list[str]) -> str:
    """sha256 of the corpus (for the resume fingerprint and the run record)."""
    return hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode("utf-8")).hexdigest()
