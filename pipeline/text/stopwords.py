"""Arabic stopword list (written for this project; negations deliberately kept out)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

DEFAULT_LIST = Path(__file__).with_name("stopwords_ar.txt")


def load_stopwords(path: Path = DEFAULT_LIST, normalize: Callable[[str], str] | None = None) -> frozenset[str]:
    """Read one word per line (``#`` comments allowed), normalised like the text."""
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.strip()
        if word and not word.startswith("#"):
            words.add(normalize(word) if normalize else word)
    return frozenset(words)
