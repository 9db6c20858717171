"""Re-tokenise split rows from their raw ``text`` with other ``preprocess`` settings (tuned ones)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.config import PreprocessParams
from pipeline.text.processor import TextProcessor
from pipeline.text.vocab import Vocab


def retokenise(rows: Sequence[dict[str, Any]], pp: PreprocessParams) -> list[list[str]]:
    """The tokens the preprocess stage would have written for each row's ``text`` under ``pp``."""
    process = TextProcessor(pp)
    return [process(str(r["text"])) for r in rows]


def train_vocab(train_tokens: Iterable[list[str]], pp: PreprocessParams) -> Vocab:
    """A train-only vocabulary built exactly as the preprocess stage builds it."""
    return Vocab.build_from_counts(
        Counter(t for doc in train_tokens for t in doc), pp.min_token_freq, pp.max_vocab_size
    )
