"""Stemmers chosen by name, each memoised per word type.

- ``light``: a light stemmer in the spirit of Larkey et al.'s Light10 (our own code):
  strips the article and common conjunction/preposition prefixes and frequent
  suffixes, never below three letters. Default: fast and permissively licensed.
- ``isri``: nltk's ISRI root-based stemmer (Apache-2.0).
- ``snowball``: the Snowball Arabic stemmer via ``snowballstemmer`` + ``PyStemmer`` (BSD).
- ``arlstem`` / ``arlstem2``: nltk's ARLSTem light stemmers (Apache-2.0).
- ``qalsadi``: the Qalsadi lemmatiser (GPL-3.0; not installed by default: ``pip install qalsadi``).
- ``none``: identity.

Only Arabic-script tokens are stemmed; placeholders (``<url>``), Latin words, digits
and emoji pass through unchanged.
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


def _arlstem() -> Callable[[str], str]:
    from nltk.stem.arlstem import ARLSTem

    return ARLSTem().stem


def _arlstem2() -> Callable[[str], str]:
    from nltk.stem.arlstem2 import ARLSTem2

    return ARLSTem2().stem


def _qalsadi() -> Callable[[str], str]:
    try:
        from qalsadi.lemmatizer import Lemmatizer
    except ImportError:
        raise ImportError(
            "preprocess.stemmer 'qalsadi' needs the qalsadi package (GPL-3.0), which is not installed by "
            "default: `.venv/bin/pip install qalsadi`"
        ) from None
    lemmatizer = Lemmatizer()
    return lambda word: lemmatizer.lemmatize(word) or word


FACTORIES: dict[str, Callable[[], Callable[[str], str]]] = {
    "light": lambda: light_stem,
    "isri": _isri,
    "snowball": _snowball,
    "arlstem": _arlstem,
    "arlstem2": _arlstem2,
    "qalsadi": _qalsadi,
}


def _arabic(word: str) -> bool:
    return "\u0621" <= word[0] <= "\u064a"


def get_stemmer(name: str, cache_size: int = 500_000) -> Callable[[str], str]:
    """Return a stemming function for ``name``, memoised per word type; non-Arabic tokens pass through."""
    if name == "none":
        return lambda word: word
    if name not in FACTORIES:
        raise ValueError(f"unknown stemmer {name!r}; allowed: {', '.join([*FACTORIES, 'none'])}")
    stem = FACTORIES[name]()

    @lru_cache(maxsize=cache_size)
    def cached(word: str) -> str:
        return (stem(word) or word) if _arabic(word) else word

    return cached
