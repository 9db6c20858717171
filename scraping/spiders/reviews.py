"""The review spider: follows links on the allowed sites and yields one item per review page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor

from scraping.extract import content_hash, extract_text, find_reviews, page_title

DEFAULT_SELECTORS = ['[itemprop="reviewBody"]', "article .review-body", "article"]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


class ReviewsSpider(scrapy.Spider):
    """Crawl from ``start_urls``; a page with a schema.org ``Review`` becomes an item.

    Arguments (keyword or ``-a`` comma-separated): ``start_urls``, ``allowed_domains``
    (default: the start URLs' hosts), ``text_selectors`` (CSS, tried in order).
    """

    name = "reviews"

    def __init__(self, start_urls: Any = None, allowed_domains: Any = None, text_selectors: Any = None, **kw: Any):
        super().__init__(**kw)
        self.start_urls = _as_list(start_urls)
        if not self.start_urls:
            raise ValueError("ReviewsSpider needs start_urls")
        self.allowed_domains = _as_list(allowed_domains) or sorted(
            {urlparse(u).hostname or "" for u in self.start_urls}
        )
        self.text_selectors = _as_list(text_selectors) or DEFAULT_SELECTORS
        self.links = LinkExtractor(unique=True)

    def allowed(self, url: str) -> bool:
        """On an allowed domain or one of its subdomains (ports ignored, unlike LinkExtractor's check)."""
        host = (urlparse(url).hostname or "").lower()
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)

    def parse(self, response: Response) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            self.crawler.stats.inc_value("pages/non_text")
            return
        self.crawler.stats.inc_value("pages/html")
        yield from self.extract_items(response)
        for link in self.links.extract_links(response):
            if self.allowed(link.url):
                yield response.follow(link, callback=self.parse)

    def extract_items(self, response: TextResponse) -> Iterator[dict[str, Any]]:
        reviews = find_reviews(response.selector)
        if not reviews:
            return
        review = reviews[0]
        text = extract_text(response.selector, self.text_selectors) or (review["body"] or "")
        if not text:
            self.crawler.stats.inc_value("items/dropped/no_text")
            return
        if review["score"] is None:
            self.crawler.stats.inc_value("items/no_score")
        yield {
            "url": response.url,
            "title": review["name"] or page_title(response.selector),
            "text": text,
            "score": review["score"],
            "source": urlparse(response.url).hostname,
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "content_hash": content_hash(text),
            "item_reviewed": review["item_reviewed"],
            "author": review["author"],
            "date_published": review["date_published"],
            "rating_raw": review["rating_raw"],
        }
