"""Text for the report's charts: Arabic joined and right to left, no missing-glyph boxes.

Every string a chart draws passes through :func:`chart_text`. Matplotlib 3.11 lays text out with libraqm
(complex text layout): it joins Arabic letters into their contextual forms and orders right-to-left runs
itself, so it must get the text in logical order. Giving it text already shaped and reordered
(``arabic_reshaper`` + ``bidi.get_display``, what older matplotlib needed) has it reverse the run a second
time: letters drawn reversed and unjoined. Only a matplotlib without libraqm gets that treatment here.

The report's font (DejaVu Sans, installed with the system) has Arabic and some emoji, not all: a character
it lacks is written as its Unicode name (``:thumbs up sign:``) instead of an empty box; invisible joiners
and variation selectors it lacks are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

FONT = "DejaVu Sans"
ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")


@cache
def _charmap() -> frozenset[int]:
    """Code points the report's font has a glyph for."""
    from matplotlib.font_manager import findfont, get_font

    return frozenset(get_font(findfont(FONT)).get_charmap())


@cache
def matplotlib_shapes() -> bool:
    """Whether matplotlib shapes and orders complex scripts itself (built with libraqm, matplotlib ≥ 3.11)."""
    from matplotlib import ft2font

    return hasattr(ft2font, "__libraqm_version__")


def drawable(text: str) -> str:
    """``text`` with each character the font lacks replaced by ``:its name:`` (invisible ones dropped)."""
    glyphs = _charmap()
    out = []
    for ch in text:
        if ord(ch) in glyphs or ch in "\n\t ":
            out.append(ch)
        elif unicodedata.category(ch) not in ("Mn", "Me", "Cf", "Cc"):  # joiners, selectors: nothing to draw
            out.append(f":{unicodedata.name(ch, f'U+{ord(ch):04X}').lower()}:")
    return "".join(out)


def chart_text(text: str) -> str:
    """``text`` as a chart should be given it: drawable in the report's font; Arabic in logical order for a
    matplotlib that shapes it, else shaped (``arabic_reshaper``) and in visual order (``bidi``)."""
    text = drawable(str(text))
    if matplotlib_shapes() or not ARABIC.search(text):
        return text
    import arabic_reshaper
    from bidi import get_display

    return get_display(arabic_reshaper.reshape(text))
