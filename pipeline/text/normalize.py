"""Arabic orthographic normalisation, each step switchable."""

from __future__ import annotations

import re
from dataclasses import dataclass

DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
TATWEEL = "\u0640"
ALEF_FORMS = str.maketrans({"\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627"})
YA_FORMS = str.maketrans({"\u0649": "\u064a"})
TA_MARBUTA = str.maketrans({"\u0629": "\u0647"})
ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
ELONGATION = re.compile(r"([\u0621-\u064a])\1{2,}")


@dataclass(frozen=True)
class Normalizer:
    """Callable normaliser; the switches mirror ``preprocess.normalize`` in params."""

    strip_diacritics: bool = True
    strip_tatweel: bool = True
    unify_alef: bool = True
    unify_ya: bool = True
    unify_ta_marbuta: bool = True
    collapse_elongation: bool = True
    arabic_digits: bool = True

    def __call__(self, text: str) -> str:
        if self.strip_diacritics:
            text = DIACRITICS.sub("", text)
        if self.strip_tatweel:
            text = text.replace(TATWEEL, "")
        if self.unify_alef:
            text = text.translate(ALEF_FORMS)
        if self.unify_ya:
            text = text.translate(YA_FORMS)
        if self.unify_ta_marbuta:
            text = text.translate(TA_MARBUTA)
        if self.arabic_digits:
            text = text.translate(ARABIC_DIGITS)
        if self.collapse_elongation:
            text = ELONGATION.sub(r"\1", text)
        return text
