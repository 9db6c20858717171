"""Stage **lm_tokenizer**: the byte-level BPE tokenizer both language models share.

``python -m pipeline lm_tokenizer`` learns ``generate.tokenizer.vocab_size`` tokens from the raw
``text`` of the **train split only** (normalised by :func:`pipeline.generation.text.lm_normalize`),
adds ``<pad>``, ``<s>``, ``</s>`` and one class token per label of ``classes.json`` (``<positive>``…),
and saves it to ``<models_dir>/lm/tokenizer/`` (see :mod:`pipeline.generation.tokenizer`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, load_params
from pipeline.data.jsonl import DataError, read_json
from pipeline.data.split import read_split
from pipeline.generation.text import lm_normalize
from pipeline.generation.tokenizer import Codec, save_tokenizer, train_tokenizer

log = logging.getLogger("lm_tokenizer")


def tokenizer_dir(params: Params) -> Path:
    return Path(params.base.models_dir) / "lm" / "tokenizer"


def build_tokenizer(params: Params) -> dict[str, Any]:
    """Train and save the shared tokenizer; return its summary (also in ``lm_meta.json``)."""
    processed = Path(params.base.processed_dir)
    labels = read_json(processed / "classes.json")["labels"]
    texts = [lm_normalize(r["text"]) for r in read_split(processed / "train.jsonl")]
    texts = [t for t in texts if t]
    if not texts:
        raise DataError(f"{processed / 'train.jsonl'}: no text to train the LM tokenizer on")
    tp = params.generate.tokenizer
    tokenizer = train_tokenizer(texts, labels, tp.vocab_size, tp.min_frequency)
    codec = Codec(tokenizer, labels)
    tokens = sum(len(codec.encode(t)) for t in texts)
    words = sum(len(t.split()) for t in texts)
    summary = {
        "trained_on": "train",
        "documents": len(texts),
        "vocab_size": codec.vocab_size,
        "train_tokens": tokens,
        "tokens_per_word": round(tokens / max(1, words), 4),
        "normalization": "pipeline.generation.text.lm_normalize",
    }
    save_tokenizer(tokenizer, tokenizer_dir(params), labels, **summary)
    log.info(
        "LM tokenizer: %d tokens from %d train documents, %.2f tokens per word",
        codec.vocab_size,
        len(texts),
        summary["tokens_per_word"],
    )
    return summary


def main() -> None:
    cli.parser(__doc__).parse_args()
    build_tokenizer(load_params())


if __name__ == "__main__":
    cli.run(main)
