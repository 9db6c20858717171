"""Is this text Arabic? An Arabic-script ratio plus letters that tell Persian/Urdu from Arabic.

Persian and Urdu are written in the Arabic script, so a script ratio alone keeps them. They use
letters Arabic does not (پ چ ژ گ, and Urdu ٹ ڈ ں ے) and write ya/kaf as ی/ک (U+06CC/U+06A9) where
Arabic writes ي/ك (U+064A/U+0643); Arabic has ة, which Persian rarely uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Letters of Persian/Urdu that Arabic text does not use (ی ک included: Arabic writes ي ك).
PERSIAN_URDU_LETTERS = frozenset("پچژگکیۀٹڈںےۓھ")
# Letters typical of Arabic and rare or absent in Persian/Urdu.
ARABIC_MARKERS = frozenset("يكة")
# Harakat, Quranic marks and superscript alef, and the tatweel: they do not make two texts different.
# The same as ``pipeline.text.normalize``'s (tests/test_dedup.py checks): ``scraping`` never imports ``pipeline``.
DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
TATWEEL = "\u0640"


@dataclass(frozen=True)
class ScriptProfile:
    letters: int  # all letters (any script)
    arabic_script: int  # Arabic-script letters
    persian_urdu: int  # letters specific to Persian/Urdu
    arabic_markers: int  # ي ك ة

    @property
    def arabic_ratio(self) -> float:
        return self.arabic_script / self.letters if self.letters else 0.0


_LETTER = re.compile(r"[^\W\d_]")
_ARABIC_SCRIPT_CHAR = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_PERSIAN_URDU = re.compile("[" + "".join(sorted(PERSIAN_URDU_LETTERS)) + "]")
_MARKERS = re.compile("[" + "".join(sorted(ARABIC_MARKERS)) + "]")


def script_profile(text: str) -> ScriptProfile:
    """Letter counts of ``text`` (regex counting: this runs on every document of a crawl)."""
    letters = _LETTER.findall(text)
    arabic = len(_ARABIC_SCRIPT_CHAR.findall("".join(letters)))
    return ScriptProfile(len(letters), arabic, len(_PERSIAN_URDU.findall(text)), len(_MARKERS.findall(text)))


def language_drop_reason(text: str, min_arabic_ratio: float = 0.6, min_letters: int = 3) -> str | None:
    """Why ``text`` is not kept as Arabic (``too_short``, ``not_arabic_script``, ``persian_or_urdu``), or None."""
    p = script_profile(text)
    if p.letters < min_letters:
        return "too_short"
    if p.arabic_ratio < min_arabic_ratio:
        return "not_arabic_script"
    # A few ی/ک slip into Arabic text (keyboards); Persian/Urdu use them throughout and avoid ي/ك/ة.
    if p.persian_urdu >= 0.02 * p.arabic_script and p.persian_urdu > p.arabic_markers:
        return "persian_or_urdu"
    return None
