"""Benchmark crawl throughput: our spider vs a bare Scrapy spider vs a minimal asyncio client.

Builds a local site of 2,000 review pages (plus listing pages) from the demo corpus, serves it with a
keep-alive aiohttp server in its own process, and crawls it three ways, each in a fresh process:

* ours: ``python -m scraping.crawl`` with politeness off (no delay, no AutoThrottle, no robots.txt),
  everything else as in the pipeline (encoding check, extraction, language filter, dedup, journal);
* a bare Scrapy spider that only follows same-site links (same concurrency and Scrapy settings);
* an aiohttp client fetching the same URLs (the ceiling).

Peak RSS comes from ``wait4`` on each crawl process; ours is measured on a 500-page and on the full
crawl to show it stays flat (documents are streamed to the journal, not held). Writes
``reports/bench/scrape.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from html import escape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save, table

PAGES = 2000
LISTING = 100
CONCURRENCY = 16

BARE_SPIDER = """
import sys, time, json, resource
from urllib.parse import urlparse
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import LinkExtractor

class Bare(scrapy.Spider):
    name = "bare"
    def __init__(self, start, **kw):
        super().__init__(**kw)
        self.start_urls = [start]
        self.host = urlparse(start).hostname
        self.links = LinkExtractor()
    def parse(self, response):
        for link in self.links.extract_links(response):
            if urlparse(link.url).hostname == self.host:
                yield response.follow(link, callback=self.parse)

c = int(sys.argv[2])
process = CrawlerProcess({"CONCURRENT_REQUESTS": c, "CONCURRENT_REQUESTS_PER_DOMAIN": c, "DOWNLOAD_DELAY": 0,
    "ROBOTSTXT_OBEY": False, "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "COOKIES_ENABLED": False,
    "DEPTH_PRIORITY": 1, "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
    "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue"})
crawler = process.create_crawler(Bare)
process.crawl(crawler, start=sys.argv[1])
t = time.perf_counter()
process.start()
elapsed = time.perf_counter() - t
pages = crawler.stats.get_value("response_received_count", 0)
print(json.dumps({"pages": pages, "elapsed_s": elapsed}))
"""

SERVER = """
import sys
from aiohttp import web
app = web.Application()
app.router.add_static("/", sys.argv[1])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
"""


def build_site(root: Path) -> list[str]:
    """2,000 review pages (texts made unique by pairing corpus reviews) and listing pages; their paths."""
    from scraping.demo_site.build import load_corpus, review_page

    corpus = load_corpus()
    (root / "review").mkdir(parents=True)
    paths = []
    docs = []
    for i in range(PAGES):
        a, b = corpus[i % len(corpus)], corpus[(i * 7 + i // len(corpus) + 3) % len(corpus)]
        doc = {**a, "id": f"r{i:05d}", "text": a["text"] + "\n\n" + b["text"], "title": f"{a['title']} {i}"}
        docs.append(doc)
    for i, doc in enumerate(docs):
        related = [docs[(i + k) % PAGES] for k in (1, 17, 333)]
        (root / "review" / f"{doc['id']}.html").write_text(review_page(doc, related, variant=i % 4), encoding="utf-8")
        paths.append(f"/review/{doc['id']}.html")
    (root / "list").mkdir()
    pages = [docs[i : i + LISTING] for i in range(0, PAGES, LISTING)]
    for n, chunk in enumerate(pages):
        items = "".join(f'<li><a href="../review/{d["id"]}.html">{escape(d["title"])}</a></li>' for d in chunk)
        (root / "list" / f"{n}.html").write_text(f"<html><body><ul>{items}</ul></body></html>", encoding="utf-8")
        paths.append(f"/list/{n}.html")
    index = "".join(f'<a href="list/{n}.html">{n}</a> ' for n in range(len(pages)))
    (root / "index.html").write_text(f"<html><body>{index}</body></html>", encoding="utf-8")
    return ["/index.html", *paths]


def run_measured(cmd: list[str], cwd: Path) -> tuple[str, float]:
    """Run ``cmd``; return its stdout and its peak RSS in MB (from ``wait4``)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            sys.exit(f"{' '.join(cmd)} failed:\n{err.read().decode()[-3000:]}")
        return out.read().decode(), usage.ru_maxrss / 1024


def ours(base: str, tmp: Path, max_pages: int = 0) -> dict:
    work = tmp / f"ours-{max_pages}"
    work.mkdir()
    cfg = {
        "start_urls": [base + "/index.html"],
        "state_dir": str(work / "state"),
        "concurrency": CONCURRENCY,
        "obey_robots": False,
        "max_pages": max_pages,
        "log_level": "WARNING",
    }
    (work / "cfg.json").write_text(json.dumps(cfg), encoding="utf-8")
    _, rss = run_measured([sys.executable, "-m", "scraping.crawl", "cfg.json", "docs.jsonl", "stats.json"], cwd=work)
    stats = json.loads((work / "stats.json").read_text(encoding="utf-8"))
    return {**stats, "peak_rss_mb": rss}


def bare(base: str, tmp: Path) -> dict:
    script = tmp / "bare_spider.py"
    script.write_text(BARE_SPIDER, encoding="utf-8")
    out, rss = run_measured([sys.executable, str(script), base + "/index.html", str(CONCURRENCY)], cwd=tmp)
    data = json.loads(out.strip().splitlines()[-1])
    return {**data, "pages_per_s": data["pages"] / data["elapsed_s"], "peak_rss_mb": rss}


async def fetch_all(base: str, paths: list[str]) -> float:
    import aiohttp

    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in paths:
        queue.put_nowait(base + p)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            url = queue.get_nowait()
            async with session.get(url) as resp:
                await resp.read()

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
        return time.perf_counter() - start


def wait_for(base: str) -> None:
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/index.html", timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("the benchmark server did not start")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scrape-") as tmp_name:
        tmp = Path(tmp_name)
        site = tmp / "site"
        paths = build_site(site)
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(site), str(port)])
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(base)
            small = ours(base, tmp, max_pages=500)
            full = ours(base, tmp)
            bare_run = bare(base, tmp)
            async_s = asyncio.run(fetch_all(base, paths))
        finally:
            server.terminate()
            server.wait(timeout=10)
    async_pps = len(paths) / async_s
    figures = {
        "pages": full["pages"],
        "documents": full["documents"],
        "pages_per_s": round(full["pages_per_s"], 1),
        "bare_scrapy_pages": bare_run["pages"],
        "bare_scrapy_pages_per_s": round(bare_run["pages_per_s"], 1),
        "ratio_vs_bare_scrapy": round(full["pages_per_s"] / bare_run["pages_per_s"], 3),
        "asyncio_pages_per_s": round(async_pps, 1),
        "peak_rss_mb": round(full["peak_rss_mb"], 1),
        "peak_rss_mb_500_pages": round(small["peak_rss_mb"], 1),
        "bare_scrapy_peak_rss_mb": round(bare_run["peak_rss_mb"], 1),
        "concurrency": CONCURRENCY,
        "dropped": full["dropped"],
        "errors": full["errors"],
        "cpu_count": os.cpu_count(),
    }
    path = save("scrape", figures)
    print(f"crawl throughput on a local keep-alive site of {len(paths)} pages (concurrency {CONCURRENCY})")
    table(
        [
            ("pages crawled (ours / bare)", f"{figures['pages']} / {figures['bare_scrapy_pages']}"),
            ("documents kept", figures["documents"]),
            ("ours pages/s", figures["pages_per_s"]),
            ("bare Scrapy pages/s", figures["bare_scrapy_pages_per_s"]),
            ("ratio ours / bare (target >= 0.7)", figures["ratio_vs_bare_scrapy"]),
            ("aiohttp client pages/s (ceiling)", figures["asyncio_pages_per_s"]),
            ("peak RSS MB: 500 pages / all", f"{figures['peak_rss_mb_500_pages']} / {figures['peak_rss_mb']}"),
            ("bare Scrapy peak RSS MB", figures["bare_scrapy_peak_rss_mb"]),
        ]
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
