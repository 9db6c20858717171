"""Stage **scrape**: crawl review pages with Scrapy into ``<raw_dir>/docs.jsonl``.

With ``scrape.site: demo`` the stage renders the embedded demo site into a temporary
folder, serves it on 127.0.0.1 for the crawl and stops the server afterwards. With
``scrape.site: urls`` it crawls ``scrape.start_urls``. Crawl statistics go to
``<reports_dir>/scrape_stats.json``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, ScrapeParams, load_params
from pipeline.jsonl import write_json

log = logging.getLogger("scrape")
OUTPUT_NAME = "docs.jsonl"


def scrapy_settings(sp: ScrapeParams, feed: Path) -> dict[str, Any]:
    """Scrapy settings for a crawl configured by ``scrape`` params, writing to ``feed``."""
    return {
        "ROBOTSTXT_OBEY": sp.obey_robots,
        "USER_AGENT": sp.user_agent,
        "CONCURRENT_REQUESTS": sp.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": sp.concurrency,
        "DOWNLOAD_DELAY": sp.download_delay,
        "DOWNLOAD_TIMEOUT": sp.timeout_s,
        "CLOSESPIDER_PAGECOUNT": sp.max_pages,
        "DEPTH_LIMIT": sp.max_depth,
        "FEEDS": {str(feed): {"format": "jsonlines", "encoding": "utf8", "overwrite": True}},
        "LOG_LEVEL": "INFO",
    }


def crawl(start_urls: list[str], allowed_domains: list[str], sp: ScrapeParams, feed: Path) -> dict[str, Any]:
    """Run one crawl in this process (Scrapy's reactor starts once per process)."""
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    from scraping.spiders.reviews import ReviewsSpider

    settings = Settings()
    settings.setmodule("scraping.settings", priority="project")
    settings.update(scrapy_settings(sp, feed), priority="cmdline")
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(ReviewsSpider)
    process.crawl(crawler, start_urls=start_urls, allowed_domains=allowed_domains, text_selectors=sp.text_selectors)
    process.start()
    return dict(crawler.stats.get_stats())


def _jsonable(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in sorted(stats.items())}


def scrape(params: Params) -> dict[str, Any]:
    sp = params.scrape
    raw_dir = Path(params.base.raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    # Write to a side file and move it into place only when the crawl finished,
    # so a failed crawl never leaves a truncated docs.jsonl behind.
    partial = raw_dir / (OUTPUT_NAME + ".part")
    started = time.perf_counter()
    if sp.site == "demo":
        from scraping.demo_site.build import build_site
        from scraping.demo_site.server import serve

        with tempfile.TemporaryDirectory(prefix="demo-site-") as site_dir:
            counts = build_site(Path(site_dir))
            with serve(Path(site_dir)) as base_url:
                log.info("demo site with %d reviews at %s", counts["reviews"], base_url)
                stats = crawl([base_url + "/index.html"], ["127.0.0.1"], sp, partial)
    else:
        stats = crawl(sp.start_urls, sp.allowed_domains, sp, partial)
    elapsed = time.perf_counter() - started
    items = stats.get("item_scraped_count", 0)
    if not items or not partial.exists():
        partial.unlink(missing_ok=True)
        raise cli.StageError(
            f"the crawl produced no items (finish reason: {stats.get('finish_reason')}, "
            f"{stats.get('downloader/exception_count', 0)} download errors); check scrape.start_urls and "
            f"the site's markup. {raw_dir / OUTPUT_NAME} was left as it was (under DVC, `dvc checkout scrape` "
            "restores the last good crawl)."
        )
    partial.replace(raw_dir / OUTPUT_NAME)
    pages = stats.get("response_received_count", 0)
    summary = {
        "site": sp.site,
        "items": items,
        "pages": pages,
        "elapsed_s": round(elapsed, 2),
        "pages_per_s": round(pages / elapsed, 1) if elapsed else None,
        "finish_reason": stats.get("finish_reason"),
        "scrapy_stats": _jsonable(stats),
    }
    write_json(Path(params.base.reports_dir) / "scrape_stats.json", summary)
    log.info("%d items from %d pages in %.1f s (%s)", items, pages, elapsed, summary["finish_reason"])
    return summary


def main() -> None:
    scrape(load_params())


if __name__ == "__main__":
    cli.run(main)
