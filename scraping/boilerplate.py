"""Main-text extraction by boilerplate removal: keep the article/review body, drop the page furniture.

A small density heuristic in the spirit of Readability/jusText, written on lxml:

1. drop elements that are never content (scripts, styles, forms, navigation, headers/footers outside
   the article, asides, iframes) and blocks whose class/id says menu, comments, share, related, ad…;
2. score each text block (``<p>``, and ``<div>``/``<td>``/``<li>`` holding text directly) by its length,
   discounted by its link density; add the score to its parent and half to its grandparent;
3. take the best-scoring container and keep its blocks (and those of siblings that score well), in
   document order, skipping short link-heavy blocks; paragraphs are joined by a blank line.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator

from lxml import etree, html

from scraping.extract import clean_text

NEVER_CONTENT = (
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "svg",
    "canvas",
    "form",
    "button",
    "input",
    "select",
    "textarea",
    "nav",
    "menu",
    "aside",
    "figure",
    "object",
    "embed",
)
UNLIKELY = re.compile(
    r"comment|disqus|footer|foot\b|masthead|menu|nav|sidebar|side-bar|share|sharing|social|related|"
    r"breadcrumb|cookie|banner|advert|\bads?\b|\bad-|-ad\b|adspace|promo|sponsor|subscribe|newsletter|widget|popup|"
    r"modal|\btags?\b|login|signup|pagination|pager|weather|most-?read|trending|taboola|outbrain|"
    r"rating|author-bio|byline|meta\b|print|toolbar|header",
    re.I,
)
LIKELY = re.compile(r"article|body|content|main|post|story|entry|text|review|news-?details?", re.I)
BLOCKS = ("p", "div", "td", "li", "blockquote", "pre", "h2", "h3", "h4", "section", "article", "dd")
PARAGRAPH_LIKE = frozenset(("p", "blockquote", "pre", "li", "dd", "h2", "h3", "h4"))
MIN_BLOCK_CHARS = 25
# A block linking to the site's legal pages is a comment policy or a copyright notice, not content.
LEGAL_LINK = re.compile(r"privacy|terms|guideline|policy|copyright|disclaimer|cookies", re.I)


def _text(el: etree._Element) -> str:
    return clean_text(" ".join(el.itertext()))


def _link_density(el: etree._Element, text_len: int) -> float:
    if not text_len:
        return 1.0
    linked = sum(len(clean_text(" ".join(a.itertext()))) for a in el.iter("a"))
    return min(1.0, linked / text_len)


def _own_text(el: etree._Element) -> str:
    """Text directly inside ``el`` and inside its inline children (not inside nested blocks)."""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str) and child.tag not in BLOCKS:
            parts.append(" ".join(child.itertext()))
        parts.append(child.tail or "")
    return clean_text(" ".join(parts))


def _strip_boilerplate(root: etree._Element) -> None:
    for el in list(root.iter(etree.Comment, etree.ProcessingInstruction)):
        _drop(el)
    for el in list(root.iter(*NEVER_CONTENT)):
        _drop(el)
    for el in list(root.iter("header", "footer")):
        if not any(a.tag in ("article", "main") for a in el.iterancestors()):
            _drop(el)
    for el in list(root.iter()):
        if not isinstance(el.tag, str) or el.tag in ("html", "body", "article", "main"):
            continue
        attrs = " ".join(filter(None, (el.get("class"), el.get("id"), el.get("role"))))
        if (
            (attrs and UNLIKELY.search(attrs) and not LIKELY.search(attrs))
            or el.get("hidden") is not None
            or (el.get("style") or "").replace(" ", "").find("display:none") >= 0
        ):
            _drop(el)


def _drop(el: etree._Element) -> None:
    """Remove ``el`` but keep its tail text in the tree."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _text_blocks(root: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    """Elements holding text directly, with that text, in document order."""
    for el in root.iter(*BLOCKS):
        text = _own_text(el) if el.tag not in PARAGRAPH_LIKE else _text(el)
        if text:
            yield el, text


def _nested_in_paragraph(el: etree._Element) -> bool:
    return any(a.tag in PARAGRAPH_LIKE for a in el.iterancestors())


def _block_ok(el: etree._Element, text: str) -> bool:
    if len(text) < MIN_BLOCK_CHARS and el.tag not in ("h2", "h3", "h4"):
        return False
    if any(LEGAL_LINK.search(a.get("href") or "") for a in el.iter("a")):
        return False
    return _link_density(el, len(text)) < 0.5


def main_text(page: str | bytes | etree._Element) -> str:
    """The main text of an HTML page (``str``/``bytes`` or a parsed lxml tree, which is not modified)."""
    if isinstance(page, str | bytes):
        if not page.strip():
            return ""
        try:
            root = html.fromstring(page)
        except (etree.ParserError, ValueError):
            return ""
    else:
        root = copy.deepcopy(page)
    _strip_boilerplate(root)
    scores: dict[etree._Element, float] = {}
    blocks = [(el, text) for el, text in _text_blocks(root) if not _nested_in_paragraph(el)]
    for el, text in blocks:
        if not _block_ok(el, text):
            continue
        score = 1 + text.count("،") + text.count(",") + min(len(text) / 100, 3)
        score *= 1 - _link_density(el, len(text))
        parent = el.getparent()
        if parent is not None:
            scores[parent] = scores.get(parent, 0) + score
            grand = parent.getparent()
            if grand is not None:
                scores[grand] = scores.get(grand, 0) + score / 2
    if not scores:  # no paragraph-like block: the body's text, whatever it is
        body = root.find(".//body")
        return clean_text(" ".join((body if body is not None else root).itertext()))
    best = max(scores, key=lambda el: scores[el])
    keep = {best}
    parent = best.getparent()
    if parent is not None:
        threshold = max(10.0, scores[best] * 0.2)
        keep.update(sib for sib in parent if scores.get(sib, 0) >= threshold)
    paragraphs = []
    for el, text in blocks:
        if any(k is el or k in el.iterancestors() for k in keep) and _block_ok(el, text):
            paragraphs.append(text)
    return "\n\n".join(paragraphs)
