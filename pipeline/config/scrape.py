"""The ``scrape`` section: what the spider crawls and how it turns pages into documents."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config.base import Section


class ScrapeParams(Section):
    site: Literal["demo", "urls"] = Field(
        "demo", description="`demo`: build and serve the embedded demo site; `urls`: crawl the start URLs."
    )
    start_urls: list[str] = Field(default_factory=list, description="Seed URLs when `site: urls`.")
    start_urls_file: str = Field(
        "inputs/seed_urls.txt",
        description="More seed URLs, one per line (`#` comments); a DVC dependency of the scrape stage.",
    )
    allowed_domains: list[str] = Field(
        default_factory=list, description="Domains to stay on (subdomains included); empty = the seeds' hosts."
    )
    allow: list[str] = Field(
        default_factory=list, description="Regexes: follow only URLs matching one of them (empty = all)."
    )
    deny: list[str] = Field(default_factory=list, description="Regexes: never follow URLs matching one of them.")
    max_pages: int = Field(0, ge=0, description="Stop after this many responses (0 = no limit).")
    max_depth: int = Field(0, ge=0, description="Maximum link depth from a start URL (0 = no limit).")
    concurrency: int = Field(8, ge=1, description="Concurrent requests, total and per domain.")
    download_delay: float = Field(0.0, ge=0, description="Seconds between requests to one domain.")
    autothrottle: bool = Field(False, description="Let Scrapy's AutoThrottle adapt the delay to server latency.")
    obey_robots: bool = Field(True, description="Respect robots.txt.")
    user_agent: str = Field(
        "arabic-ml-pipeline (+https://example.invalid/bot)", min_length=1, description="User-Agent header."
    )
    timeout_s: float = Field(20.0, gt=0, description="Download timeout per request, seconds.")
    retries: int = Field(2, ge=0, description="Retries of a failed request (timeouts, 5xx) before giving up.")
    max_redirects: int = Field(5, ge=0, description="Redirect hops followed from one URL.")
    max_page_bytes: int = Field(10_000_000, ge=1024, description="Larger responses are abandoned (`too_large`).")
    documents: Literal["reviews", "all"] = Field(
        "reviews",
        description="`reviews`: only pages with a review or a score become documents; `all`: every HTML page "
        "(unlabelled ones get score null).",
    )
    text_selectors: list[str] = Field(
        default_factory=list,
        description="CSS (or XPath: starting with / or xpath:) selectors tried in order for the text; empty = "
        'an itemprop="reviewBody" element, the review\'s reviewBody, else boilerplate removal.',
    )
    score_selectors: list[str] = Field(
        default_factory=list,
        description="CSS/XPath selectors whose text holds the score (its first number, Arabic-Indic digits "
        "understood; scale score_worst..score_best), for pages without schema.org ratings.",
    )
    score_best: float = Field(5.0, description="Best value of the score_selectors scale (maps to 10).")
    score_worst: float = Field(0.0, description="Worst value of the score_selectors scale (maps to 0).")
    annotations_file: str = Field(
        "inputs/annotations.csv",
        description="CSV (url,score) or JSON lines of 0-10 scores by URL; wins over on-page ratings. "
        "A DVC dependency of the scrape stage.",
    )
    min_arabic_ratio: float = Field(
        0.6, ge=0, le=1, description="Minimum share of Arabic-script letters among all letters of a document."
    )
    near_duplicate_threshold: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Estimated Jaccard similarity of word 5-shingles from which a text is a near duplicate.",
    )
    state_dir: str = Field(
        "data/scrape-state", description="Crawl journal of an unfinished crawl (resumed by the next run)."
    )
    resume: bool = Field(True, description="Resume an interrupted crawl from state_dir (false: start afresh).")

    @field_validator("allow", "deny")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"{pattern!r} is not a valid regular expression ({err})") from None
        return value

    @field_validator("text_selectors", "score_selectors")
    @classmethod
    def _selectors(cls, value: list[str]) -> list[str]:
        if not value:  # parsel (lxml, cssselect) is imported only when there is a selector to check
            return value
        from parsel import Selector

        probe = Selector(text="<html><body><p>x</p></body></html>")
        for expression in value:
            try:
                if expression.startswith(("xpath:", "/", "(", "./")):  # as scraping.extract.select reads it
                    probe.xpath(expression.removeprefix("xpath:"))
                else:
                    probe.css(expression)
            except Exception as err:  # cssselect and lxml raise several types
                raise ValueError(f"{expression!r} is not a valid CSS/XPath selector ({err})") from None
        return value

    @model_validator(mode="after")
    def _urls_needed(self) -> ScrapeParams:
        for url in self.start_urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"scrape.start_urls: {url!r} is not an http(s) URL")
        if self.site == "urls" and not self.start_urls and not _has_urls(self.start_urls_file):
            raise ValueError(
                "scrape.start_urls (or the file named by scrape.start_urls_file) must list at least one URL "
                "when scrape.site is 'urls'"
            )
        if self.score_best == self.score_worst:
            raise ValueError("scrape.score_best and scrape.score_worst must differ")
        return self


def _has_urls(path: str) -> bool:
    file = Path(path)
    if not file.is_file():
        return False
    return any(line.split("#", 1)[0].strip() for line in file.read_text(encoding="utf-8").splitlines())
