"""Arabic orthographic normalisation and handling of web noise, each step switchable.

URLs, e-mails, mentions and emoji can be replaced by placeholders; the placeholders are
private-use characters that the tokeniser turns into ``<url>``, ``<email>``, ``<mention>``
and ``<emoji>`` tokens, so no later step (Latin removal, stemming) can mangle them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
TATWEEL = "\u0640"
ALEF_FORMS = str.maketrans({"\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627"})
HAMZA_FORMS = str.maketrans({"\u0624": "\u0648", "\u0626": "\u064a"})
YA_FORMS = str.maketrans({"\u0649": "\u064a"})
TA_MARBUTA = str.maketrans({"\u0629": "\u0647"})
ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
ELONGATION = re.compile(r"([\u0621-\u064a])\1{2,}")

URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
MENTION = re.compile(r"(?<![\w@])@\w+")
HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff][\ufe0f\u200d\U0001f3fb-\U0001f3ff]*")
LATIN_WORD = re.compile(r"[A-Za-z]+")

PLACEHOLDERS = {"url": "\ue000", "email": "\ue001", "mention": "\ue002", "emoji": "\ue003"}


def _apply(policy: str, pattern: re.Pattern[str], text: str, name: str) -> str:
    if policy == "keep":
        return text
    return pattern.sub(f" {PLACEHOLDERS[name]} " if policy == "token" else " ", text)


@dataclass(frozen=True)
class Normalizer:
    """Callable normaliser; the fields mirror ``preprocess.normalize`` in params."""

    strip_diacritics: bool = True
    strip_tatweel: bool = True
    unify_alef: bool = True
    unify_hamza: bool = False
    unify_ya: bool = True
    unify_ta_marbuta: bool = True
    collapse_elongation: bool = True
    arabic_digits: bool = True
    urls: str = "token"
    emails: str = "token"
    mentions: str = "token"
    hashtags: str = "word"
    emoji: str = "keep"
    latin: str = "keep"

    def __call__(self, text: str) -> str:
        text = _apply(self.urls, URL, text, "url")
        text = _apply(self.emails, EMAIL, text, "email")
        text = _apply(self.mentions, MENTION, text, "mention")
        if self.hashtags == "remove":
            text = HASHTAG.sub(" ", text)
        elif self.hashtags == "word":
            text = HASHTAG.sub(lambda m: " " + m.group(1).replace("_", " ") + " ", text)
        if self.emoji != "keep":
            text = _apply(self.emoji, EMOJI, text, "emoji")
        if self.latin == "remove":
            text = LATIN_WORD.sub(" ", text)
        if self.strip_diacritics:
            text = DIACRITICS.sub("", text)
        if self.strip_tatweel:
            text = text.replace(TATWEEL, "")
        if self.unify_alef:
            text = text.translate(ALEF_FORMS)
        if self.unify_hamza:
            text = text.translate(HAMZA_FORMS)
        if self.unify_ya:
            text = text.translate(YA_FORMS)
        if self.unify_ta_marbuta:
            text = text.translate(TA_MARBUTA)
        if self.arabic_digits:
            text = text.translate(ARABIC_DIGITS)
        if self.collapse_elongation:
            text = ELONGATION.sub(r"\1", text)
        return text
