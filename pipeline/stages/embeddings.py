"""Stage **embeddings**: word2vec or fastText vectors trained on the project's own corpus (gensim).

``python -m pipeline embeddings`` reads ``train.embedding_init`` and the ``embeddings`` section. With
``random`` init it writes only ``<models_dir>/embeddings/info.json`` (``method: none``), so changing
embedding params that nothing uses re-trains nothing. With ``word2vec`` or ``fasttext`` it trains that
model and saves ``<method>.model`` next to ``info.json`` (vocabulary coverage, corpus size, time). The
corpus (``embeddings.corpus``) is either the train and validation splits' tokens, or ``all``: the
pretraining corpus (every document of the data source, labelled or not, plus ``pretrain.corpus_dir``,
minus the test split and its near-duplicates) tokenised like the splits. The test split's text is never
seen either way.

The train stage turns the vectors into the networks' initial embedding matrix, one row per vocabulary
entry (:func:`embedding_matrix`), frozen or fine-tuned (``train.freeze_embeddings``). fastText also
handles words outside the classifier's vocabulary: :class:`OovMapper` sends each such word to the
vocabulary entry whose vector is closest to the word's subword vector, instead of ``<unk>``.
"""

from __future__ import annotations

import logging
import time
import zlib
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, load_params
from pipeline.data.jsonl import DataError, write_json
from pipeline.data.split import split_tokens
from pipeline.models.vectors import OovMapper, embedding_matrix, load_vectors, model_path, oov_mapper, read_info
from pipeline.text.vocab import Vocab
from pipeline.tracking import provenance_tags, setup_mlflow

__all__ = ["OovMapper", "build", "embedding_matrix", "load_vectors", "oov_mapper", "read_info", "train_vectors"]

log = logging.getLogger("embeddings")
METHODS = ("word2vec", "fasttext")


def stable_hash(word: str) -> int:
    """gensim's per-word initial-vector seed; Python's ``hash`` differs between processes."""
    return zlib.crc32(word.encode("utf-8"))


def train_vectors(sentences: list[list[str]], method: str, dim: int, params: Params) -> Any:
    """A gensim Word2Vec or FastText model, deterministic for a given seed (one worker thread)."""
    from gensim.models import FastText, Word2Vec

    ep = params.embeddings
    common = dict(
        sentences=sentences,
        vector_size=dim,
        window=ep.window,
        min_count=ep.min_count,
        sg=1 if ep.skip_gram else 0,
        epochs=ep.epochs,
        seed=params.base.seed,
        workers=1,
        hashfxn=stable_hash,
    )
    if method == "word2vec":
        return Word2Vec(**common)
    if method == "fasttext":
        return FastText(**common, min_n=ep.min_n, max_n=ep.max_n, bucket=ep.buckets)
    raise ValueError(f"unknown embedding method {method!r}; allowed: {', '.join(METHODS)}")


def corpus_sentences(params: Params) -> tuple[list[list[str]], dict[str, Any]]:
    """The token lists the vectors learn from, and a description of where they came from."""
    processed = params.base.processed_dir
    if params.embeddings.corpus == "splits":
        sentences = [*split_tokens(processed, "train")[0], *split_tokens(processed, "val")[0]]
        return sentences, {"kind": "splits", "description": "train + val splits (the test split is never seen)"}
    from pipeline.pretrained.corpus import build_corpus
    from pipeline.text.processor import TextProcessor

    corpus = build_corpus(params)
    process = TextProcessor(params.preprocess)
    sentences = [tokens for tokens in map(process, corpus.texts) if tokens]
    return sentences, {
        "kind": "all",
        "description": "every source document, labelled or not, plus pretrain.corpus_dir, minus the test split "
        "and its near-duplicates",
        **corpus.summary(),
    }


def build(params: Params) -> dict[str, Any]:
    """Train the vectors ``train.embedding_init`` asks for; return (and write) ``info.json``."""
    method = params.train.embedding_init
    out = Path(params.base.models_dir) / "embeddings"
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.model*"):
        stale.unlink()
    if method == "random":
        info: dict[str, Any] = {"method": "none", "reason": "train.embedding_init is random"}
        write_json(out / "info.json", info)
        return info
    processed = params.base.processed_dir
    sentences, corpus = corpus_sentences(params)
    if not sentences:
        raise DataError(f"{processed}/train.jsonl: no documents to train {method} vectors on")
    vocab = Vocab.load(Path(processed) / "vocab.json")
    started = time.perf_counter()
    model = train_vectors(sentences, method, params.train.embedding_dim, params)
    seconds = time.perf_counter() - started
    model.save(str(model_path(params.base.models_dir, method)))
    _, coverage = embedding_matrix(vocab, model, params.base.seed)
    info = {
        "method": method,
        "dim": params.train.embedding_dim,
        "corpus": corpus,
        "documents": len(sentences),
        "tokens": sum(len(s) for s in sentences),
        "words_with_vectors": len(model.wv.key_to_index),
        "vocab_coverage": round(coverage, 4),
        "train_time_s": round(seconds, 2),
        "params": params.embeddings.model_dump(),
    }
    write_json(out / "info.json", info)
    setup_mlflow(params.base)
    import mlflow

    with mlflow.start_run(run_name="embeddings", tags={**provenance_tags(params.base.seed), "stage": "embeddings"}):
        mlflow.log_params({"method": method, "dim": info["dim"], **params.embeddings.model_dump()})
        mlflow.log_metrics({k: float(info[k]) for k in ("documents", "tokens", "vocab_coverage", "train_time_s")})
    log.info(
        "%s: %d-dim vectors for %d words from %d documents in %.1f s; classifier vocabulary coverage %.1f%%",
        method,
        info["dim"],
        info["words_with_vectors"],
        info["documents"],
        seconds,
        100 * coverage,
    )
    return info


def main() -> None:
    cli.parser(__doc__).parse_args()
    build(load_params())


if __name__ == "__main__":
    cli.run(main)
