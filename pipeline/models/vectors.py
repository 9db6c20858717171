"""Loading word2vec / fastText vectors the ``embeddings`` stage saved, and using them in a network.

:func:`embedding_matrix` turns them into a network's initial embedding matrix, one row per vocabulary
entry; :class:`OovMapper` sends a word outside the classifier's vocabulary to the vocabulary entry
whose fastText vector is nearest its subword vector. Training and prediction import this module only,
so they do not depend on how the stage gathers its corpus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.data.jsonl import DataError, read_json
from pipeline.text.vocab import Vocab


def embedding_matrix(vocab: Vocab, model: Any, seed: int) -> tuple[np.ndarray, float]:
    """Rows for every vocabulary id (``<pad>`` = 0) and the fraction of the vocabulary that had a vector.

    word2vec words without a vector keep a small random row; fastText has a subword vector for any word.
    The rows are centred and scaled to unit variance (the scale of a random init)."""
    wv = model.wv
    dim = wv.vector_size
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, 0.1, size=(len(vocab), dim)).astype(np.float32)
    matrix[0] = 0.0
    found = 0
    subword = hasattr(wv, "ngrams_word") or hasattr(wv, "vectors_ngrams")
    for i, word in enumerate(vocab.itos[2:], start=2):
        if word in wv.key_to_index or subword:
            matrix[i] = wv[word]
            found += word in wv.key_to_index
    # Centre and scale like nn.Embedding's N(0, 1) init: vectors from a small corpus share one dominant
    # direction, and at their raw scale the network barely tells words apart at the start.
    rows = matrix[1:]
    rows -= rows.mean(axis=0, keepdims=True)
    rows /= max(float(rows.std()), 1e-8)
    return matrix, found / max(1, len(vocab) - 2)


class OovMapper:
    """Maps a word outside the vocabulary to the id whose fastText vector is nearest (cosine)."""

    def __init__(self, model: Any, vocab: Vocab) -> None:
        self.wv = model.wv
        vectors = np.stack([self.wv[w] for w in vocab.itos[2:]]) if len(vocab) > 2 else np.zeros((0, 1))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = vectors / np.where(norms == 0, 1, norms)
        self.cache: dict[str, int] = {}

    def __call__(self, word: str) -> int:
        if word not in self.cache:
            v = self.wv[word]
            n = float(np.linalg.norm(v))
            self.cache[word] = 1 if n == 0 or not len(self.unit) else int(np.argmax(self.unit @ (v / n))) + 2
        return self.cache[word]


def model_path(models_dir: str | Path, method: str) -> Path:
    return Path(models_dir) / "embeddings" / f"{method}.model"


def load_vectors(models_dir: str | Path, method: str) -> Any:
    """The model the embeddings stage saved for ``method``, with a clear error when it is missing."""
    from gensim.models import FastText, Word2Vec

    path = model_path(models_dir, method)
    if not path.is_file():
        raise DataError(f"{path}: no {method} vectors (train.embedding_init is {method}: run `dvc repro embeddings`)")
    return (FastText if method == "fasttext" else Word2Vec).load(str(path))


def oov_mapper(models_dir: str | Path, method: str, vocab: Vocab) -> OovMapper | None:
    """fastText models get an :class:`OovMapper`; other initialisations keep ``<unk>``."""
    return OovMapper(load_vectors(models_dir, method), vocab) if method == "fasttext" else None


def read_info(models_dir: str | Path) -> dict[str, Any]:
    path = Path(models_dir) / "embeddings" / "info.json"
    return read_json(path) if path.is_file() else {"method": "none"}
