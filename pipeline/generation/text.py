"""Light normalisation of raw review text for the language models.

Unlike the classifiers' preprocessing (stemming, stopword removal, letter unification), the LMs must
write readable Arabic, so only noise is removed: diacritics, tatweel, letters elongated 3+ times,
URLs, e-mails and @mentions; hashtags become words; whitespace (newlines included) collapses to one
space. Letter forms (أ/ا, ة/ه, ى/ي), digits, punctuation, Latin words and emoji are kept.
"""

from __future__ import annotations

import re

from pipeline.text.normalize import Normalizer

_NORMALIZER = Normalizer(
    strip_diacritics=True,
    strip_tatweel=True,
    unify_alef=False,
    unify_hamza=False,
    unify_ya=False,
    unify_ta_marbuta=False,
    collapse_elongation=True,
    arabic_digits=False,
    urls="remove",
    emails="remove",
    mentions="remove",
    hashtags="word",
    emoji="keep",
    latin="keep",
)
_SPACES = re.compile(r"\s+")


def lm_normalize(text: str) -> str:
    """The text the language models are trained on and prompted with."""
    return _SPACES.sub(" ", _NORMALIZER(text)).strip()
