"""Arabic in the report's charts (issue 19 item 5): joined, right to left, no missing-glyph boxes; the loss curves.

What matplotlib lays out is checked glyph by glyph: for each Arabic word the glyphs, left to right, must be the
word's contextual forms (``arabic_reshaper`` as the oracle) in reverse order, the way a reader sees it."""

import unicodedata
import warnings

import pytest

from pipeline.reporting import figures
from pipeline.reporting.arabic import FONT, chart_text, drawable

WORDS = ["مطعم", "الطعام", "لا بأس", "الخدمة ممتازة جدا", "إيجابي"]


def _font():
    from matplotlib.font_manager import findfont, get_font

    font = get_font(findfont(FONT))
    font.set_size(12, 72)
    return font


def laid_out(text: str) -> list[str]:
    """The glyph names matplotlib draws for ``text``, left to right."""
    from matplotlib import _text_helpers

    font = _font()
    items = sorted(_text_helpers.layout(text, font), key=lambda i: i.x)
    return [i.ft_object.get_glyph_name(i.glyph_index) for i in items]


def seen(word: str) -> list[str]:
    """The glyph names a reader sees for ``word``, left to right: its contextual forms, last letter first (an
    isolated letter is the letter's own glyph)."""
    import arabic_reshaper

    font = _font()
    names = []
    for ch in reversed(arabic_reshaper.reshape(word)):
        tag, *points = unicodedata.decomposition(ch).split() or [""]
        if tag == "<isolated>" and len(points) == 1:  # a letter's isolated form (not the lam-alef ligature)
            ch = chr(int(points[0], 16))
        names.append(font.get_glyph_name(font.get_char_index(ord(ch))))
    return names


@pytest.mark.parametrize("word", WORDS)
def test_arabic_is_drawn_joined_and_right_to_left(word):
    assert laid_out(chart_text(word)) == seen(word)


def test_the_old_reshaped_text_is_what_drew_letters_reversed():
    # what the figures gave matplotlib before: shaped and reordered, which matplotlib 3.11 reorders again
    import arabic_reshaper
    from bidi import get_display

    assert laid_out(get_display(arabic_reshaper.reshape("الطعام"))) != seen("الطعام")


def test_characters_the_font_lacks_are_named_not_boxed():
    font = _font()
    text = drawable("ممتاز 👍🏽 😀 ❤️ 👨‍👩‍👧")
    assert all(ord(ch) in font.get_charmap() for ch in text if ch != " ")
    assert ":thumbs up sign:" in text and "😀" in text  # DejaVu Sans has the smileys: kept
    assert text.startswith("ممتاز ")


def explanation(tokens):
    return {
        "tokens": tokens,
        "scores": [0.5 - 0.1 * i for i in range(len(tokens))],
        "true": "سلبي",
        "pred": "إيجابي",
        "method": "integrated_gradients",
        "probabilities": [0.3, 0.7],
    }


def test_every_chart_with_arabic_and_emoji_draws_no_missing_glyph():
    labels = ["سلبي", "محايد", "إيجابي"]
    ev = {
        "labels": labels,
        "confusion_matrix": [[1, 0, 1], [0, 2, 0], [0, 1, 1]],
        "pr_curves": {lab: {"average_precision": 0.5, "precision": [0.5, 1.0], "recall": [1.0, 0.0]} for lab in labels},
        "calibration": {"ece": 0.1, "bins": [{"count": 3, "confidence": 0.8, "accuracy": 0.6}]},
    }
    curve = [
        {"epoch": e, "train/loss": 1.0 - 0.1 * e, "val/loss": 1.1 - 0.05 * e, "val/f1_macro": 0.3} for e in range(3)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)" for every box it draws
        pngs = [
            figures.tokens_chart([explanation(["الطعام", "لذيذ", "👍", "😀", "iPhone", "١٢"])], "gru: ✓"),
            figures.confusion_chart({"gru": ev}),
            figures.pr_chart({"gru": ev}),
            figures.reliability_chart({"gru": ev}),
            figures.curves_chart({"gru": curve}),
            figures.loss_chart({"gru": curve, "tfidf_linear": []}),
        ]
    assert all(png and png.startswith(b"\x89PNG") for png in pngs)


def test_loss_chart_has_a_panel_per_trained_architecture():
    import io

    from matplotlib.image import imread

    curve = [{"epoch": e, "train/loss": 1.0 - 0.1 * e, "val/loss": 1.1 - 0.05 * e} for e in range(3)]
    one = imread(io.BytesIO(figures.loss_chart({"lstm": curve, "tfidf_linear": []})))
    two = imread(io.BytesIO(figures.loss_chart({"lstm": curve, "gru": curve})))
    assert two.shape[1] > one.shape[1]  # panels side by side; an architecture without epochs gets none
    assert figures.loss_chart({"tfidf_linear": []}) is None
