"""The review spider: follows links within scope, turns pages into documents, records everything.

It handles every HTTP status and redirects itself (``handle_httpstatus_all``, ``dont_redirect``), so a
404, a 500, a redirect loop, an empty or non-HTML response is counted by kind instead of vanishing in
Scrapy's middlewares. With a :class:`~scraping.journal.CrawlJournal` every request's outcome is
journaled (the crawl can be resumed); documents are yielded as items too.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlparse

import scrapy
from scrapy.http import Request, Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from twisted.python.failure import Failure

from scraping.dedup import Deduplicator
from scraping.documents import ExtractionConfig, page_documents
from scraping.encoding import choose_encoding
from scraping.extract import content_hash
from scraping.failures import failure_kind
from scraping.journal import CrawlJournal
from scraping.language import language_drop_reason

HTML_TYPES = ("text/html", "application/xhtml+xml")
log = logging.getLogger(__name__)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


class ReviewsSpider(scrapy.Spider):
    """Crawl from ``start_urls`` within ``allowed_domains`` (default: the start URLs' hosts).

    Keyword arguments: ``allow``/``deny`` (URL regexes), ``extraction``
    (:class:`~scraping.documents.ExtractionConfig`), ``text_selectors`` (shortcut for it),
    ``min_arabic_ratio``, ``max_redirects``, ``journal`` and ``dedup``.
    """

    name = "reviews"

    def __init__(
        self,
        start_urls: Any = None,
        allowed_domains: Any = None,
        text_selectors: Any = None,
        allow: Any = None,
        deny: Any = None,
        extraction: ExtractionConfig | None = None,
        min_arabic_ratio: float = 0.6,
        max_redirects: int = 5,
        journal: CrawlJournal | None = None,
        dedup: Deduplicator | None = None,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.start_urls = _as_list(start_urls)
        if not self.start_urls:
            raise ValueError("ReviewsSpider needs start_urls")
        # Not ``allowed_domains``: Scrapy's offsite middleware would check every request a second time.
        self.domains = [d.lower() for d in _as_list(allowed_domains)] or sorted(
            {(urlparse(u).hostname or "").lower() for u in self.start_urls}
        )
        self.extraction = extraction or ExtractionConfig(text_selectors=tuple(_as_list(text_selectors)))
        self.min_arabic_ratio = min_arabic_ratio
        self.max_redirects = max_redirects
        self.journal = journal
        self.dedup = dedup or (journal.dedup if journal else Deduplicator())
        self.links = LinkExtractor(allow=_as_list(allow), deny=_as_list(deny), unique=True)

    # -- scope -----------------------------------------------------------------------------------
    def allowed(self, url: str) -> bool:
        """On an allowed domain or one of its subdomains (ports ignored, unlike LinkExtractor's check)."""
        host = (urlparse(url).hostname or "").lower()
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def _request(self, url: str, depth: int | None = None, chain: tuple[str, ...] = ()) -> Request:
        meta: dict[str, Any] = {"handle_httpstatus_all": True, "dont_redirect": True}
        if depth is not None:
            meta["depth"] = depth
        if chain:
            meta["redirect_chain"] = chain
        return Request(url, callback=self.parse, errback=self.on_error, meta=meta)

    async def start(self) -> AsyncIterator[Any]:
        pending = dict(self.journal.frontier) if self.journal else {}
        for url in self.start_urls:
            if not (self.journal and self.journal.is_done(url)):
                yield self._request(url, depth=0)
        for url, depth in pending.items():
            yield self._request(url, depth=depth)

    # -- responses -------------------------------------------------------------------------------
    def _count(self, key: str) -> None:
        self.crawler.stats.inc_value(key)

    def _record(self, request: Request, **fields: Any) -> None:
        if self.journal is not None:
            self.journal.record(request.url, request.meta.get("depth", 0), **fields)

    def _problem(self, request: Request, kind: str, status: int | None, detail: str = "") -> None:
        self._count(f"errors/{kind}")
        log.warning("%s: %s%s", request.url, kind, f" ({detail})" if detail else "")
        self._record(request, status=status, error=kind)

    def parse(self, response: Response, **_: Any) -> Iterator[Any]:
        request = response.request
        status = response.status
        if 300 <= status < 400 and b"Location" in response.headers:
            yield from self._redirect(response)
            return
        if status >= 400:
            self._problem(request, f"http_{status}", status)
            return
        content_type = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
        if not response.body.strip():
            self._problem(request, "empty", status)
            return
        if (content_type and not content_type.startswith(HTML_TYPES)) or not isinstance(response, TextResponse):
            self._problem(request, "non_html", status, content_type)
            return
        encoding, how = choose_encoding(response.body, content_type)
        if encoding != response.encoding:
            response = response.replace(encoding=encoding)
        self._count(f"encoding/{how}")
        try:
            links = [link.url for link in self.links.extract_links(response) if self.allowed(link.url)]
        except ValueError as err:  # lxml refuses some documents (e.g. XML declaration + str)
            self._problem(request, "unparsable", status, str(err))
            return
        docs, dropped = self._documents(response, encoding)
        if self.journal is not None and self.journal.resumed_records:  # within a run the dupefilter suffices
            links = [u for u in links if not self.journal.is_done(u)]
        self._record(request, status=status, links=links, docs=docs, dropped=dropped)
        if self.journal is None:  # with a journal the documents are already on disk: skip Scrapy's item machinery
            yield from docs
        for url in links:
            yield self._request(url)

    def _documents(self, response: TextResponse, encoding: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
        docs, dropped = [], {}
        for doc in page_documents(response.selector, response.url, self.extraction):
            reason = "no_text" if not doc["text"] else language_drop_reason(doc["text"], self.min_arabic_ratio)
            digest = content_hash(doc["text"])
            reason = reason or self.dedup.check(doc["text"], digest)
            if reason:
                dropped[reason] = dropped.get(reason, 0) + 1
                self._count(f"dropped/{reason}")
                log.debug("%s: dropped (%s)", doc["url"], reason)
                continue
            if doc["score"] is None:
                self._count("documents/no_score")
            doc.update(content_hash=digest, encoding=encoding)  # when it was fetched is the run log's
            docs.append(doc)
        self.crawler.stats.inc_value("documents/kept", len(docs))
        return docs, dropped

    def _redirect(self, response: Response) -> Iterator[Request]:
        request = response.request
        target = response.urljoin(response.headers[b"Location"].decode("latin-1"))
        chain = (*request.meta.get("redirect_chain", ()), request.url)
        if target in chain:
            self._problem(request, "redirect_loop", response.status, " → ".join((*chain, target)))
            return
        if len(chain) > self.max_redirects:
            self._problem(request, "too_many_redirects", response.status, f"{len(chain)} hops")
            return
        if not self.allowed(target):
            self._count("skipped/offsite_redirect")
            self._record(request, status=response.status, skipped="offsite_redirect")
            return
        self._count("redirects")
        self._record(request, status=response.status, links=[target])
        if self.journal is None or not self.journal.is_done(target):
            # A target already requested by another path is dropped by Scrapy's dupefilter (fetched once).
            yield self._request(target, chain=chain)

    def on_error(self, failure: Failure) -> None:
        request = failure.request
        kind = failure_kind(failure)
        if kind == "robots_disallowed":
            self._count("skipped/robots_disallowed")
            self._record(request, skipped=kind)
            return
        self._problem(request, kind, None, str(failure.value)[:200])
