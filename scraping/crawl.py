"""Run one resumable crawl in this process: Scrapy settings, journal, spider, statistics.

``python -m scraping.crawl CONFIG.json`` runs a crawl described by a JSON :class:`CrawlConfig` (tests and
benchmarks use it: Scrapy's reactor starts once per process, so every crawl gets its own process).
The pipeline's scrape stage calls :func:`run_crawl` with a config built from ``params.yaml``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scraping.dedup import Deduplicator
from scraping.documents import ExtractionConfig
from scraping.journal import CrawlJournal


@dataclass(frozen=True)
class CrawlConfig:
    """Everything one crawl needs; ``pipeline.stages.scrape`` builds it from the ``scrape`` params."""

    start_urls: tuple[str, ...]
    state_dir: str
    allowed_domains: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    max_depth: int = 0
    max_pages: int = 0
    concurrency: int = 8
    download_delay: float = 0.0
    autothrottle: bool = False
    obey_robots: bool = True
    user_agent: str = "arabic-ml-pipeline (+https://example.invalid/bot)"
    timeout_s: float = 20.0
    retries: int = 2
    max_redirects: int = 5
    max_page_bytes: int = 10_000_000
    min_arabic_ratio: float = 0.6
    near_duplicate_threshold: float = 0.8
    extraction: ExtractionConfig = field(default_factory=ExtractionConfig)
    resume: bool = True
    log_level: str = "INFO"

    # Politeness and limits change how a crawl runs, not what it collects: they may change between a
    # crawl and its resumption. Everything else is part of the fingerprint.
    _RUN_ONLY = (
        "state_dir",
        "max_pages",
        "concurrency",
        "download_delay",
        "autothrottle",
        "user_agent",
        "timeout_s",
        "retries",
        "resume",
        "log_level",
    )

    def fingerprint(self) -> str:
        data = {k: v for k, v in dataclasses.asdict(self).items() if k not in self._RUN_ONLY}
        blob = json.dumps(data, sort_keys=True, default=str).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CrawlConfig:
        data = dict(data)
        extraction = ExtractionConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in data.pop("extraction", {}).items()}
        )
        data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(extraction=extraction, **data)


def scrapy_settings(cfg: CrawlConfig, max_pages: int) -> dict[str, Any]:
    """Scrapy settings for ``cfg``; ``max_pages`` is what is left of the page budget after a resume."""
    return {
        "ROBOTSTXT_OBEY": cfg.obey_robots,
        "USER_AGENT": cfg.user_agent,
        # Equal total and per-domain limits: a larger total makes Scrapy several times slower (stack notes).
        "CONCURRENT_REQUESTS": cfg.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": cfg.concurrency,
        "DOWNLOAD_DELAY": cfg.download_delay,
        "AUTOTHROTTLE_ENABLED": cfg.autothrottle,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": max(1.0, cfg.concurrency / 2),
        "DOWNLOAD_TIMEOUT": cfg.timeout_s,
        "RETRY_TIMES": cfg.retries,
        "DOWNLOAD_MAXSIZE": cfg.max_page_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "CLOSESPIDER_PAGECOUNT": max_pages,
        "DEPTH_LIMIT": cfg.max_depth,
        "LOG_LEVEL": cfg.log_level,
        "LOG_INSTALL_ROOT_HANDLER": False,
    }


def run_crawl(cfg: CrawlConfig) -> dict[str, Any]:
    """Crawl (resuming a journal left by an interrupted run when ``cfg.resume``); return the statistics.

    The returned dict holds ``finish_reason``, ``complete`` (False when interrupted), ``journal``
    (the open :class:`CrawlJournal`, to stream the documents from) and the totals.
    """
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    from scraping.spiders.reviews import ReviewsSpider

    journal = CrawlJournal(cfg.state_dir, cfg.fingerprint(), Deduplicator(cfg.near_duplicate_threshold))
    journal.open(resume=cfg.resume)
    pages_before = journal.summary.pages
    left = 0
    if cfg.max_pages:
        left = cfg.max_pages - pages_before
        if left <= 0:
            return _result(journal, "closespider_pagecount", {}, 0.0, pages_before)
    settings = Settings()
    settings.setmodule("scraping.settings", priority="project")
    settings.update(scrapy_settings(cfg, left), priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(ReviewsSpider)
    bar = PageBar(crawler, left or None) if sys.stdout.isatty() else None  # held: Scrapy's signals are weak
    started = time.perf_counter()
    process.crawl(
        crawler,
        start_urls=list(cfg.start_urls),
        allowed_domains=list(cfg.allowed_domains),
        allow=list(cfg.allow),
        deny=list(cfg.deny),
        extraction=cfg.extraction,
        min_arabic_ratio=cfg.min_arabic_ratio,
        max_redirects=cfg.max_redirects,
        journal=journal,
    )
    process.start()
    elapsed = time.perf_counter() - started
    if bar is not None:
        bar.close()
    stats = dict(crawler.stats.get_stats())
    return _result(journal, stats.get("finish_reason"), stats, elapsed, pages_before)


class PageBar:
    """On a terminal: pages fetched, pages/s and (with ``scrape.max_pages``) the ETA, refreshed every second
    (tqdm on stdout). The scrape stage creates none when stdout is not a terminal, so CI logs stay short."""

    def __init__(self, crawler: Any, total: int | None) -> None:
        from scrapy import signals
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="crawl", unit="page", file=sys.stdout, mininterval=1.0, dynamic_ncols=True)
        crawler.signals.connect(self.page, signal=signals.response_received)

    def page(self, response: Any, request: Any, spider: Any) -> None:
        self.bar.update()

    def close(self) -> None:
        self.bar.close()


def _result(
    journal: CrawlJournal, reason: str | None, stats: dict[str, Any], elapsed: float, pages_before: int
) -> dict[str, Any]:
    s = journal.summary
    pages_now = s.pages - pages_before
    return {
        "finish_reason": reason,
        # "shutdown": Ctrl-C/SIGTERM; None: the reactor was stopped before the spider closed.
        "complete": reason is not None and reason != "shutdown",
        "pages": s.pages,
        "pages_this_run": pages_now,
        "resumed_pages": pages_before,
        "documents": s.documents,
        "dropped": dict(sorted(s.dropped.items())),
        "errors": dict(sorted(s.errors.items())),
        "skipped": dict(sorted(s.skipped.items())),
        # facts of this execution (the run log's, pipeline/runlog.py), the rest depends on the site alone
        "elapsed_s": round(elapsed, 2),
        "pages_per_s": round(pages_now / elapsed, 1) if elapsed else None,
        "scrapy_stats": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in sorted(stats.items())},
        "journal": journal,
    }


def write_documents(journal: CrawlJournal, out: Path, origin: tuple[str, str] | None = None) -> int:
    """Write the journal's documents into ``out`` in URL order (temp file + rename); return the count.

    The order is the URLs', not the crawl's (which concurrent requests vary), so the same site gives the same
    bytes. Only the sort keys are held in memory; each document is read back from the journal by its offset.
    ``origin`` (``(served_at, recorded_as)``) rewrites a temporary server's origin in ``url``/``page_url``
    and ``source`` to a fixed one (the demo site's port changes from run to run; its content does not).
    """
    keys = []  # (url, byte offset of the journal line, index in its docs)
    with journal.path.open("rb") as fh:
        offset = 0
        for line in fh:
            for i, doc in enumerate(json.loads(line).get("docs", ())):
                keys.append((_rehost(doc["url"], origin), offset, i))
            offset += len(line)
    keys.sort()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with journal.path.open("rb") as src, tmp.open("w", encoding="utf-8") as fh:
        for _, offset, i in keys:
            src.seek(offset)
            doc = json.loads(src.readline())["docs"][i]
            if origin is not None:
                for key in ("url", "page_url"):
                    if key in doc:
                        doc[key] = _rehost(doc[key], origin)
                if doc.get("source") == urlsplit(origin[0]).hostname:
                    doc["source"] = urlsplit(origin[1]).hostname
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return len(keys)


def _rehost(url: str | None, origin: tuple[str, str] | None) -> str | None:
    if origin is None or url is None or not url.startswith(origin[0]):
        return url
    return origin[1] + url[len(origin[0]) :]


def main(argv: list[str]) -> int:
    """``python -m scraping.crawl CONFIG.json [OUT.jsonl [STATS.json]]``: exit 0 complete, 3 interrupted."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Scrapy sets its loggers to DEBUG and expects its own root handler to apply LOG_LEVEL; we keep ours (one
    # format for every line), so ours applies the level: no per-request DEBUG lines
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.INFO)
    cfg = CrawlConfig.from_json(json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    result = run_crawl(cfg)
    journal = result.pop("journal")
    if not result["complete"]:
        journal.close()
        print(json.dumps({k: v for k, v in result.items() if k != "scrapy_stats"}), file=sys.stderr)
        return 3
    if len(argv) > 1:
        write_documents(journal, Path(argv[1]))
    if len(argv) > 2:
        Path(argv[2]).write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    journal.discard()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
