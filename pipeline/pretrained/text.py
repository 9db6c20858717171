"""The one text transformation applied before a wordpiece tokenizer, in pretrain, finetune and predict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.text.normalize import PLACEHOLDERS, Normalizer

# Placeholders are private-use characters, which BERT's normaliser drops: spell them as words instead.
_SPELLED = str.maketrans({char: f" {name} " for name, char in PLACEHOLDERS.items()})


def model_text(settings: dict[str, Any] | None) -> Callable[[str], str]:
    """``text -> text`` for the tokenizer: ``preprocess.normalize`` settings applied (``None``: unchanged)."""
    if settings is None:
        return lambda text: text
    normalizer = Normalizer(**settings)

    def apply(text: str) -> str:
        return normalizer(text).translate(_SPELLED)

    return apply
