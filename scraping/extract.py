"""Pure extraction helpers: schema.org reviews (JSON-LD and microdata), scores, main text from selectors.

Kept free of Scrapy's crawling machinery so they are unit-testable on any HTML.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from parsel import Selector

WHITESPACE = re.compile(r"\s+")
SCHEMA_BEST, SCHEMA_WORST = 5.0, 1.0  # schema.org defaults for Rating


def jsonld_objects(sel: Selector) -> Iterator[dict[str, Any]]:
    """Every JSON object in the page's ``application/ld+json`` blocks, nested ones included
    (lists, ``@graph`` and property values such as a Product's ``review`` list), in document order."""
    for raw in sel.xpath('//script[@type="application/ld+json"]/text()').getall():
        try:
            data = json.loads(raw.strip().rstrip(";"), strict=False)
        except json.JSONDecodeError:
            continue
        stack = [data]
        while stack:
            obj = stack.pop(0)
            if isinstance(obj, list):
                stack[0:0] = obj
            elif isinstance(obj, dict):
                yield obj
                stack[0:0] = [v for k, v in obj.items() if isinstance(v, dict | list) and k != "@context"]


def _is_type(obj: dict[str, Any], name: str) -> bool:
    t = obj.get("@type")
    return t == name or (isinstance(t, list) and name in t)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", "."))
        except ValueError:
            return None
    return None


def normalize_rating(value: Any, best: Any = None, worst: Any = None) -> float | None:
    """Map a rating to 0–10 using ``bestRating``/``worstRating``.

    Missing bounds take schema.org's defaults (best 5, worst 1); a rating below an
    implicit worst of 1 (a 0-star review) takes worst 0. Returns ``None`` when the
    numbers are missing or inconsistent (value outside [worst, best]).
    """
    v = _number(value)
    if v is None:
        return None
    b = _number(best) if best is not None else SCHEMA_BEST
    w = _number(worst) if worst is not None else (SCHEMA_WORST if v >= SCHEMA_WORST else 0.0)
    if b is None or w is None or b <= w or not w <= v <= b:
        return None
    return round((v - w) / (b - w) * 10, 4)


def _name(value: Any) -> Any:
    return value.get("name") if isinstance(value, dict) else value


def _jsonld_reviews(sel: Selector) -> list[dict[str, Any]]:
    reviews = []
    for obj in jsonld_objects(sel):
        if not _is_type(obj, "Review"):
            continue
        rating = obj.get("reviewRating") or {}
        if not isinstance(rating, dict):
            rating = {"ratingValue": rating} if isinstance(rating, int | float | str) else {}
        score = normalize_rating(rating.get("ratingValue"), rating.get("bestRating"), rating.get("worstRating"))
        body = obj.get("reviewBody") or obj.get("description")
        reviews.append(
            {
                "score": score,
                "rating_raw": {k: rating.get(k) for k in ("ratingValue", "bestRating", "worstRating")},
                "name": obj.get("name") or obj.get("headline"),
                "body": clean_text(body) if isinstance(body, str) else None,
                "item_reviewed": _name(obj.get("itemReviewed")),
                "author": _name(obj.get("author")),
                "date_published": obj.get("datePublished"),
                "url": obj.get("url") if isinstance(obj.get("url"), str) else None,
                "block": None,
                "format": "jsonld",
            }
        )
    return reviews


_HAS_PROP = "contains(concat(' ', normalize-space(@itemprop), ' '), concat(' ', $prop, ' '))"


def _props(scope: Selector, prop: str) -> list[Selector]:
    """Elements carrying ``itemprop=prop`` that belong to ``scope`` itself (not to a nested item)."""
    depth = int(float(scope.xpath("count(ancestor-or-self::*[@itemscope])").get()))
    return scope.xpath(f".//*[{_HAS_PROP}][count(ancestor::*[@itemscope]) = $depth]", prop=prop, depth=depth)


def _prop_value(scope: Selector, prop: str) -> str | None:
    """A microdata property's value: ``content``/``datetime``/``href`` attribute, else the element text."""
    for node in _props(scope, prop):
        if node.xpath("@itemscope"):
            names = _props(node, "name")
            value = _prop_value(node, "name") if names else clean_text(" ".join(node.xpath(".//text()").getall()))
        else:
            value = node.xpath("@content|@datetime|@value").get()
            if value is None:
                value = clean_text(" ".join(node.xpath(".//text()").getall()))
        if value:
            return value.strip()
    return None


def _microdata_reviews(sel: Selector) -> list[dict[str, Any]]:
    reviews = []
    for block in sel.xpath('//*[@itemscope][contains(@itemtype, "schema.org/Review")]'):
        if block.xpath("@itemtype").get("").rstrip("/").split("/")[-1] != "Review":
            continue
        ratings = [r for r in _props(block, "reviewRating") if r.xpath("@itemscope")]
        rating_scope = ratings[0] if ratings else block
        raw = {k: _prop_value(rating_scope, k) for k in ("ratingValue", "bestRating", "worstRating")}
        body_nodes = _props(block, "reviewBody") or _props(block, "description")
        reviews.append(
            {
                "score": normalize_rating(raw["ratingValue"], raw["bestRating"], raw["worstRating"]),
                "rating_raw": raw,
                "name": _prop_value(block, "name"),
                "body": extract_text(body_nodes[0], ["*"]) if body_nodes else None,
                "item_reviewed": _prop_value(block, "itemReviewed"),
                "author": _prop_value(block, "author"),
                "date_published": _prop_value(block, "datePublished"),
                "url": _prop_value(block, "url"),
                "block": block,
                "format": "microdata",
            }
        )
    return reviews


def find_reviews(sel: Selector) -> list[dict[str, Any]]:
    """Schema.org ``Review`` objects on the page, JSON-LD first then microdata.

    Each has ``score`` (0–10 or None), ``rating_raw``, ``name``, ``body`` (its own text or None),
    ``item_reviewed``, ``author``, ``date_published``, ``url`` (its own URL if stated), ``block`` (the
    microdata element, None for JSON-LD) and ``format``.
    """
    return _jsonld_reviews(sel) + _microdata_reviews(sel)


ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫", "01234567890123456789.")
NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


def parse_score_text(text: str) -> float | None:
    """The first number in ``text`` (Arabic-Indic digits and ``٫`` understood), or None."""
    match = NUMBER.search(text.translate(ARABIC_DIGITS))
    return float(match.group().replace(",", ".")) if match else None


def select(sel: Selector, expression: str) -> list[Selector]:
    """Apply a CSS selector, or an XPath one when it starts with ``/``, ``(`` or ``xpath:``."""
    if expression.startswith("xpath:"):
        return sel.xpath(expression.removeprefix("xpath:"))
    if expression.startswith(("/", "(", "./")):
        return sel.xpath(expression)
    return sel.css(expression)


def score_from_selectors(sel: Selector, selectors: list[str], best: float, worst: float) -> float | None:
    """A 0–10 score read from the first selector whose text (or attribute value) holds a number."""
    for expression in selectors:
        for node in select(sel, expression):
            text = node.get() if isinstance(node.root, str) else " ".join(node.xpath(".//text()").getall())
            value = parse_score_text(text or "")
            if value is not None:
                return normalize_rating(value, best, worst)
    return None


def clean_text(text: str) -> str:
    return WHITESPACE.sub(" ", text).strip()


def _node_text(node: Selector) -> str:
    parts = node.xpath(".//text()[not(ancestor::script) and not(ancestor::style) and not(ancestor::noscript)]")
    return clean_text(" ".join(parts.getall()))


def extract_text(sel: Selector, selectors: list[str]) -> str:
    """The main text: the first selector (CSS or XPath, see :func:`select`) that matches non-empty text
    wins; ``*`` means ``sel`` itself. Paragraphs (``<p>``) are kept apart by a blank line; scripts and
    styles are dropped.
    """
    for expression in selectors:
        for node in select(sel, expression) if expression != "*" else [sel]:
            paragraphs = [t for t in (_node_text(p) for p in node.css("p")) if t]
            text = "\n\n".join(paragraphs) if paragraphs else _node_text(node)
            if text:
                return text
    return ""


def page_title(sel: Selector) -> str:
    for xpath in ('//meta[@property="og:title"]/@content', "//h1//text()", "//title/text()"):
        value = clean_text(" ".join(sel.xpath(xpath).getall()))
        if value:
            return value
    return ""


def content_hash(text: str) -> str:
    """Stable hash of the text with whitespace collapsed (exact-duplicate key)."""
    return hashlib.sha256(clean_text(text).encode("utf-8")).hexdigest()
