"""Stemmers chosen by name, each memoised per word type.

- ``light``: a light stemmer in the spirit of Larkey et al.'s Light10 (our own code):
  strips the article and common conjunction/preposition prefixes and frequent
  suffixes, never below three letters (``MIN_STEM``). Default: fast and permissively licensed.
- ``isri``: nltk's ISRI root-based stemmer (Apache-2.0).
- ``snowball``: the Snowball Arabic stemmer via ``snowballstemmer`` + ``PyStemmer`` (BSD).
- ``arlstem`` / ``arlstem2``: nltk's ARLSTem light stemmers (Apache-2.0).
- ``qalsadi``: the Qalsadi lemmatiser (GPL-3.0: an optional extra, ``make setup-lemmatise``).
- ``none``: identity.

Only Arabic-script tokens are stemmed; placeholders (``<url>``), Latin words, digits
and emoji pass through unchanged, and so do the protected words (``protected_ar.txt``, or
``preprocess.protected_words_file``): frequent words that every stemmer here mangles (الله → له or الل).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

PREFIXES = ("وال", "فال", "بال", "كال", "ولل", "لل", "ال")
SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ية", "ه", "ة", "ي")
MIN_STEM = 3
PROTECTED_LIST = Path(__file__).with_name("protected_ar.txt")


def light_stem(word: str) -> str:
    """Light10-style affix stripping: each strip must leave at least ``MIN_STEM`` letters."""
    if word.startswith("و") and len(word) > MIN_STEM:
        word = word[1:]
    for prefix in PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= MIN_STEM:
            word = word[len(prefix) :]
            break
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            word = word[: -len(suffix)]
    return word


def load_protected(path: Path = PROTECTED_LIST, normalize: Callable[[str], str] | None = None) -> frozenset[str]:
    """The words no stemmer touches: one per line (``#`` comments allowed), normalised like the text."""
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.strip()
        if word and not word.startswith("#"):
            words.add(normalize(word) if normalize else word)
    return frozenset(words)


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
            "preprocess.stemmer 'qalsadi' needs the qalsadi package (GPL-3.0), an optional extra not installed by "
            "`make setup`: run `make setup-lemmatise` (or `.venv/bin/pip install qalsadi`)"
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


def get_stemmer(name: str, cache_size: int = 500_000, protected: frozenset[str] | None = None) -> Callable[[str], str]:
    """Return a stemming function for ``name``, memoised per word type; non-Arabic tokens and the ``protected``
    words (default: the built-in list, unnormalised) pass through."""
    if name == "none":
        return lambda word: word
    if name not in FACTORIES:
        raise ValueError(f"unknown stemmer {name!r}; allowed: {', '.join([*FACTORIES, 'none'])}")
    stem = FACTORIES[name]()
    keep = load_protected() if protected is None else protected

    @lru_cache(maxsize=cache_size)
    def cached(word: str) -> str:
        return (stem(word) or word) if _arabic(word) and word not in keep else word

    return cached
