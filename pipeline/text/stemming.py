"""Stemmers chosen by name, each memoised per word type.

- ``light``: a light stemmer in the spirit of Larkey et al.'s Light10 (our own code):
  strips the article and common conjunction/preposition prefixes and frequent
  suffixes, never below three letters. Default: fast and permissively licensed.
- ``isri``: nltk's ISRI root-based stemmer (Apache-2.0).
- ``snowball``: the Snowball Arabic stemmer via ``snowballstemmer`` + ``PyStemmer`` (BSD).
- ``none``: identity.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

PREFIXES = ("وال", "فال", "بال", "كال", "ولل", "لل", "ال")
SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ية", "ه", "ة", "ي")
MIN_REST = 2


def light_stem(word: str) -> str:
    """Light10-style affix stripping: each strip must leave at least two letters."""
    if word.startswith("و") and len(word) >= 4:
        word = word[1:]
    for prefix in PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= MIN_REST:
            word = word[len(prefix) :]
            break
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_REST:
            word = word[: -len(suffix)]
    return word


def _isri() -> Callable[[str], str]:
    from nltk.stem.isri import ISRIStemmer

    return ISRIStemmer().stem


def _snowball() -> Callable[[str], str]:
    import snowballstemmer

    return snowballstemmer.stemmer("arabic").stemWord


def get_stemmer(name: str, cache_size: int = 200_000) -> Callable[[str], str]:
    """Return a stemming function for ``name``, memoised per word type."""
    if name == "none":
        return lambda word: word
    factories: dict[str, Callable[[], Callable[[str], str]]] = {
        "light": lambda: light_stem,
        "isri": _isri,
        "snowball": _snowball,
    }
    if name not in factories:
        raise ValueError(f"unknown stemmer {name!r}; allowed: {', '.join([*factories, 'none'])}")
    return lru_cache(maxsize=cache_size)(factories[name]())
