"""Turn one parsed page into documents: which text, which score, one document per review.

Score, first that applies: the annotations file (URL → score), the review's schema.org rating
(JSON-LD or microdata), the configured score selectors. Text of a single-document page: the
configured text selectors, else an ``itemprop="reviewBody"`` element, else the review's
``reviewBody``, else boilerplate removal (:mod:`scraping.boilerplate`). A page with several reviews
gives one document per review, each with its own body (or its microdata block's text) and score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin, urlparse

from parsel import Selector

from scraping.boilerplate import main_text
from scraping.extract import extract_text, find_reviews, page_title, score_from_selectors

REVIEW_BODY = ['[itemprop~="reviewBody"]']


@dataclass(frozen=True)
class ExtractionConfig:
    """What makes a document (mirrors the extraction keys of ``scrape`` in params.yaml)."""

    documents: Literal["reviews", "all"] = "reviews"
    text_selectors: tuple[str, ...] = ()
    score_selectors: tuple[str, ...] = ()
    score_best: float = 5.0
    score_worst: float = 0.0
    annotations: dict[str, float] = field(default_factory=dict)


def _block_text(review: dict[str, Any]) -> str:
    if review["body"]:
        return review["body"]
    block = review["block"]
    return extract_text(block, ["*"]) if block is not None else ""


def page_documents(sel: Selector, url: str, cfg: ExtractionConfig) -> list[dict[str, Any]]:
    """Documents on the page at ``url`` (not yet filtered by language or duplicates); a document
    without text has ``text == ""`` so the caller can count it."""
    reviews = find_reviews(sel)
    annotated = cfg.annotations.get(url)
    page_score = None
    if cfg.score_selectors:
        page_score = score_from_selectors(sel, list(cfg.score_selectors), cfg.score_best, cfg.score_worst)
    if not reviews:
        if cfg.documents == "reviews" and annotated is None and page_score is None:
            return []
        text = extract_text(sel, list(cfg.text_selectors)) if cfg.text_selectors else ""
        text = text or main_text(sel.root)
        score, source = (annotated, "annotation") if annotated is not None else (page_score, "selector")
        return [_document(url, page_title(sel), text, score if score is not None else None, source, None)]
    if len(reviews) == 1:
        review = reviews[0]
        text = (
            (extract_text(sel, list(cfg.text_selectors)) if cfg.text_selectors else "")
            or extract_text(sel, REVIEW_BODY)
            or review["body"]
            or main_text(sel.root)
        )
        return [_review_document(url, url, review, text, annotated, page_score, sel)]
    docs = []
    for n, review in enumerate(reviews, 1):
        own = urljoin(url, review["url"]) if review["url"] else f"{url}#review-{n}"
        docs.append(_review_document(own, url, review, _block_text(review), cfg.annotations.get(own), None, sel))
    return docs


def _review_document(
    url: str,
    page_url: str,
    review: dict[str, Any],
    text: str,
    annotated: float | None,
    selector_score: float | None,
    sel: Selector,
) -> dict[str, Any]:
    if annotated is not None:
        score, source = annotated, "annotation"
    elif review["score"] is not None:
        score, source = review["score"], review["format"]
    else:
        score, source = selector_score, "selector"
    doc = _document(url, review["name"] or page_title(sel), text, score, source, page_url)
    doc.update(
        item_reviewed=review["item_reviewed"],
        author=review["author"],
        date_published=review["date_published"],
        rating_raw=review["rating_raw"],
    )
    return doc


def _document(
    url: str, title: str, text: str, score: float | None, source: str, page_url: str | None
) -> dict[str, Any]:
    return {
        "url": url,
        "title": title,
        "text": text,
        "score": score,
        "score_source": source if score is not None else None,
        "source": urlparse(url).hostname,
        "page_url": page_url or url,
        "item_reviewed": None,
        "author": None,
        "date_published": None,
        "rating_raw": None,
    }
