"""Pure extraction helpers: schema.org ratings from JSON-LD, main text from selectors.

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
    """Every JSON object in the page's ``application/ld+json`` blocks (lists and @graph flattened)."""
    for raw in sel.xpath('//script[@type="application/ld+json"]/text()').getall():
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            continue
        stack = [data]
        while stack:
            obj = stack.pop(0)
            if isinstance(obj, list):
                stack.extend(obj)
            elif isinstance(obj, dict):
                yield obj
                if isinstance(obj.get("@graph"), list):
                    stack.extend(obj["@graph"])


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


def find_reviews(sel: Selector) -> list[dict[str, Any]]:
    """Schema.org ``Review`` objects on the page that carry a usable rating."""
    reviews = []
    for obj in jsonld_objects(sel):
        if not _is_type(obj, "Review"):
            continue
        rating = obj.get("reviewRating") or {}
        if not isinstance(rating, dict):
            continue
        score = normalize_rating(rating.get("ratingValue"), rating.get("bestRating"), rating.get("worstRating"))
        item = obj.get("itemReviewed")
        author = obj.get("author")
        reviews.append(
            {
                "score": score,
                "rating_raw": {k: rating.get(k) for k in ("ratingValue", "bestRating", "worstRating")},
                "name": obj.get("name"),
                "body": obj.get("reviewBody"),
                "item_reviewed": item.get("name") if isinstance(item, dict) else item,
                "author": author.get("name") if isinstance(author, dict) else author,
                "date_published": obj.get("datePublished"),
            }
        )
    return reviews


def clean_text(text: str) -> str:
    return WHITESPACE.sub(" ", text).strip()


def _node_text(node: Selector) -> str:
    parts = node.xpath(".//text()[not(ancestor::script) and not(ancestor::style) and not(ancestor::noscript)]")
    return clean_text(" ".join(parts.getall()))


def extract_text(sel: Selector, selectors: list[str]) -> str:
    """The main text: the first selector that matches non-empty text wins.

    Paragraphs (``<p>``) are kept apart by a blank line; scripts and styles are dropped.
    """
    for css in selectors:
        for node in sel.css(css):
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
