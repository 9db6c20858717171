"""Tokenisation of (normalised) Arabic text, with optional clitic splitting."""

from __future__ import annotations

import re

from pipeline.text.normalize import EMOJI, PLACEHOLDERS

# A token is a run of Arabic letters, of Latin letters, of digits, a placeholder or one emoji.
# Arabic punctuation (، ؛ ؟ « ») and other symbols separate tokens and are dropped.
TOKEN = re.compile(r"[\u0621-\u064a\u0660-\u0669\u0671-\u06d3]+|[A-Za-z]+|[0-9]+|[\ue000-\ue003]|" + EMOJI.pattern)
PLACEHOLDER_TOKENS = {char: f"<{name}>" for name, char in PLACEHOLDERS.items()}
ARTICLE = "ال"


def tokenize(text: str, lowercase_latin: bool = True) -> list[str]:
    """Split text into word tokens (placeholders become ``<url>``, ``<emoji>``, …)."""
    out = []
    for tok in TOKEN.findall(text):
        if tok in PLACEHOLDER_TOKENS:
            out.append(PLACEHOLDER_TOKENS[tok])
        elif lowercase_latin and tok.isascii():
            out.append(tok.lower())
        else:
            out.append(tok)
    return out


def split_clitic(token: str) -> list[str]:
    """Detach و/ف and ب/ك/ل where they precede the article: والكتاب → و الكتاب, وللبيت → و ل البيت.

    Only article-bearing words are split, where the reading is unambiguous; the stem
    after the article keeps at least two letters.
    """
    head: list[str] = []
    rest = token
    if len(rest) >= 5 and rest[0] in "وف" and (rest[1:3] == ARTICLE or rest[1:3] == "لل" or rest[2:4] == ARTICLE):
        head.append(rest[0])
        rest = rest[1:]
    if len(rest) >= 4 and rest[0] in "بك" and rest[1:3] == ARTICLE:
        head.append(rest[0])
        rest = rest[1:]
    elif len(rest) >= 4 and rest.startswith("لل"):
        head.append("ل")
        rest = ARTICLE + rest[2:]
    return [*head, rest] if head and len(rest) >= 4 else [token]


def split_clitics(tokens: list[str]) -> list[str]:
    return [part for tok in tokens for part in split_clitic(tok)]
