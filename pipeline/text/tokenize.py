"""Tokenisation of (normalised) Arabic text."""

from __future__ import annotations

import re

# A token is a run of Arabic letters, of Latin letters or of digits. Arabic
# punctuation (، ؛ ؟ « ») and emoji separate tokens and are dropped.
TOKEN = re.compile(r"[\u0621-\u064a\u0660-\u0669\u0671-\u06d3]+|[A-Za-z]+|[0-9]+")


def tokenize(text: str, lowercase_latin: bool = True) -> list[str]:
    """Split text into word tokens."""
    tokens = TOKEN.findall(text)
    if lowercase_latin:
        tokens = [t.lower() if t.isascii() else t for t in tokens]
    return tokens
