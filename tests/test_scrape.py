"""The demo site and real crawls of it over HTTP on 127.0.0.1 (in subprocesses: one reactor per process)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from pipeline import runlog
from scraping.demo_site.build import build_site, load_corpus
from scraping.extract import clean_text
from scraping.spiders.reviews import ReviewsSpider
from tests.conftest import REPO, write_params


def _expected_text(text: str) -> str:
    return "\n\n".join(clean_text(p) for p in text.split("\n\n") if p.strip())


def _run_scrape(tmp_path: Path, overrides: dict) -> subprocess.CompletedProcess:
    write_params(tmp_path / "params.yaml", overrides)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "pipeline.stages.scrape"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_demo_site_has_realistic_structure(tmp_path):
    counts = build_site(tmp_path)
    assert counts["reviews"] == len(load_corpus()) >= 400
    assert "Disallow: /admin/" in (tmp_path / "robots.txt").read_text()
    page2 = tmp_path / "category" / "books" / "page-2.html"
    assert page2.is_file() and 'rel="prev"' in page2.read_text(encoding="utf-8")
    doc = load_corpus()[0]
    html = (tmp_path / "review" / f"{doc['id']}.html").read_text(encoding="utf-8")
    for marker in (
        "application/ld+json",
        '"Review"',
        'itemprop="reviewBody"',
        'class="comments"',
        "<footer>",
        "<nav",
        "<script>",
        'dir="rtl"',
    ):
        assert marker in html


def test_spider_parse_yields_item_and_follows_only_allowed_links(tmp_path):
    build_site(tmp_path)
    doc = load_corpus()[5]
    url = f"http://127.0.0.1:9/review/{doc['id']}.html"
    body = (tmp_path / "review" / f"{doc['id']}.html").read_bytes()
    body = body.replace(b"</footer>", b'<a href="https://elsewhere.example/x">x</a></footer>')
    spider = ReviewsSpider.from_crawler(get_crawler(ReviewsSpider), start_urls=[url])
    out = list(spider.parse(HtmlResponse(url=url, body=body, encoding="utf-8")))
    items = [o for o in out if isinstance(o, dict)]
    requests = [o for o in out if not isinstance(o, dict)]
    assert len(items) == 1
    assert items[0]["score"] == pytest.approx(doc["score"])
    assert items[0]["text"] == _expected_text(doc["text"])
    assert requests and all(r.url.startswith("http://127.0.0.1:9/") for r in requests)


def test_scrape_stage_crawls_the_whole_demo_site(tmp_path):
    proc = _run_scrape(tmp_path, {})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "data/raw/docs.jsonl").read_text(encoding="utf-8").splitlines()]
    corpus = {d["id"]: d for d in load_corpus()}
    assert len(rows) == len(corpus)
    seen = set()
    for row in rows:
        doc_id = row["url"].rsplit("/", 1)[1].removesuffix(".html")
        seen.add(doc_id)
        doc = corpus[doc_id]
        assert row["score"] == pytest.approx(doc["score"]), row["rating_raw"]
        assert row["text"] == _expected_text(doc["text"])
        assert all(clean_text(c) not in row["text"] for c in doc["comments"] if len(c) > 15)
        assert len(row["content_hash"]) == 64 and row["title"] == doc["title"]
        assert row["url"].startswith("http://demo-site.localhost/") and row["source"] == "demo-site.localhost"
        assert "fetched_at" not in row  # a fact of the run: in the run log
    assert seen == set(corpus)
    assert [r["url"] for r in rows] == sorted(r["url"] for r in rows)  # URL order, not the crawl's
    stats_path = tmp_path / "reports/scrape_stats.json"
    stats = json.loads(stats_path.read_text())
    assert stats["items"] == len(corpus) and stats["finish_reason"] == "finished"
    assert "elapsed_s" not in stats and "scrapy_stats" not in stats
    facts = runlog.read(stats_path)
    assert facts["scrapy_stats"]["robotstxt/forbidden"] >= 1 and facts["elapsed_s"] > 0  # /admin/ not fetched
    scales = {float(r["rating_raw"]["bestRating"] or 5) for r in rows}
    assert scales == {5.0, 10.0, 100.0}  # several rating scales, all normalised
    assert not (tmp_path / "data/raw/docs.jsonl.part").exists()
    assert stats["errors"] == {}
    assert stats["dropped"] == {} and stats["skipped"] == {"robots_disallowed": 1}
    assert not (tmp_path / "data/scrape-state").exists()  # a finished crawl leaves no journal
    assert (tmp_path / "mlflow.db").is_file()  # the `scrape` MLflow run


def test_max_pages_stops_the_crawl_early(tmp_path):
    proc = _run_scrape(tmp_path, {"scrape.max_pages": 25})
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((tmp_path / "reports/scrape_stats.json").read_text())
    assert stats["finish_reason"] == "closespider_pagecount"
    assert 0 < stats["items"] < 40


def test_unreachable_site_fails_with_a_clear_message_and_keeps_old_data(tmp_path):
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "docs.jsonl").write_text('{"url": "old"}\n', encoding="utf-8")
    proc = _run_scrape(
        tmp_path, {"scrape.site": "urls", "scrape.start_urls": ["http://127.0.0.1:9/"], "scrape.timeout_s": 5}
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]  # Scrapy logs the refused connections above it
    assert last.startswith("error: the crawl produced no items") and "left as it was" in last
    assert (raw / "docs.jsonl").read_text(encoding="utf-8") == '{"url": "old"}\n'


def test_scrape_stage_crawls_nothing_when_the_data_comes_from_a_file(tmp_path):
    (tmp_path / "mine.csv").write_text("text,score\nنص,5\n", encoding="utf-8")
    proc = _run_scrape(tmp_path, {"data.source": "file", "data.path": "mine.csv"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "data/raw/docs.jsonl").read_text(encoding="utf-8") == ""
    stats = json.loads((tmp_path / "reports/scrape_stats.json").read_text())
    assert stats["items"] == 0 and "file" in stats["skipped"]
