"""Stage **scrape**: crawl review pages with Scrapy into ``<raw_dir>/docs.jsonl``.

With ``scrape.site: demo`` the stage renders the embedded demo site into a temporary folder, serves it
on 127.0.0.1 for the crawl and stops the server afterwards. With ``scrape.site: urls`` it crawls
``scrape.start_urls`` plus the URLs in ``scrape.start_urls_file``.

The crawl is journaled in ``scrape.state_dir`` as it goes (:mod:`scraping.journal`); an interrupted
crawl (Ctrl-C, a killed process) leaves the journal there and the next run resumes it. Only a
finished crawl produces ``docs.jsonl`` (streamed from the journal, then the journal is removed), so
the output is never a partial crawl. Documents are written in URL order, and the demo site's are recorded
under the fixed origin ``http://demo-site.localhost`` (its temporary port is not data), so the same site gives
the same bytes. Statistics go to ``<reports_dir>/scrape_stats.json`` (what the site gave) and its run log
(how this crawl went: time, pages/s, Scrapy's counters; :mod:`pipeline.runlog`), and to an MLflow run named
``scrape``. ``SCRAPE_FRESH=1`` discards an unfinished crawl's journal.
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import cli, runlog
from pipeline.config import Params, ScrapeParams, load_params
from pipeline.data.jsonl import write_json

log = logging.getLogger("scrape")
OUTPUT_NAME = "docs.jsonl"
DEMO_ORIGIN = "http://demo-site.localhost"
# the crawl's figures that differ from one run of the same site to the next: the run log's
RUN_FACTS = frozenset({"elapsed_s", "pages_per_s", "pages_this_run", "resumed_pages", "scrapy_stats", "crawled"})


def crawl_config(sp: ScrapeParams, start_urls: list[str], allowed_domains: list[str], annotations: dict) -> Any:
    """The :class:`scraping.crawl.CrawlConfig` for ``scrape`` params and the resolved seeds/annotations."""
    from scraping.crawl import CrawlConfig
    from scraping.documents import ExtractionConfig

    return CrawlConfig(
        start_urls=tuple(start_urls),
        state_dir=sp.state_dir,
        allowed_domains=tuple(allowed_domains),
        allow=tuple(sp.allow),
        deny=tuple(sp.deny),
        max_depth=sp.max_depth,
        max_pages=sp.max_pages,
        concurrency=sp.concurrency,
        download_delay=sp.download_delay,
        autothrottle=sp.autothrottle,
        obey_robots=sp.obey_robots,
        user_agent=sp.user_agent,
        timeout_s=sp.timeout_s,
        retries=sp.retries,
        max_redirects=sp.max_redirects,
        max_page_bytes=sp.max_page_bytes,
        min_arabic_ratio=sp.min_arabic_ratio,
        near_duplicate_threshold=sp.near_duplicate_threshold,
        extraction=ExtractionConfig(
            documents=sp.documents,
            text_selectors=tuple(sp.text_selectors),
            score_selectors=tuple(sp.score_selectors),
            score_best=sp.score_best,
            score_worst=sp.score_worst,
            annotations=annotations,
        ),
        resume=sp.resume and os.environ.get("SCRAPE_FRESH", "") not in ("1", "true", "yes"),
    )


def _inputs(sp: ScrapeParams) -> tuple[list[str], dict[str, float]]:
    from scraping.annotations import AnnotationsError, load_annotations, load_seed_urls

    def optional(key: str) -> bool:
        """The default input files may be absent (a project copied without them); a path set by hand may not."""
        path = getattr(sp, key)
        if Path(path).exists() or path != ScrapeParams.model_fields[key].default:
            return True
        log.warning("scrape.%s: %s not found; none used", key, path)
        return False

    try:
        seeds = list(sp.start_urls)
        if sp.site == "urls" and optional("start_urls_file"):
            seeds += load_seed_urls(sp.start_urls_file)
        annotations = load_annotations(sp.annotations_file) if optional("annotations_file") else {}
    except AnnotationsError as err:
        raise cli.StageError(f"scrape inputs: {err}") from None
    return list(dict.fromkeys(seeds)), annotations


def log_to_mlflow(params: Params, summary: dict[str, Any], stats_path: Path) -> None:
    """One MLflow run named ``scrape``: the scrape params, the crawl figures, provenance tags."""
    import mlflow

    from pipeline.tracking import provenance_tags, setup_mlflow

    setup_mlflow(params.base)
    metrics = {k: float(summary[k]) for k in ("pages", "documents", "elapsed_s") if summary.get(k) is not None}
    if summary.get("pages_per_s") is not None:
        metrics["pages_per_s"] = float(summary["pages_per_s"])
    for group in ("dropped", "errors", "skipped"):
        metrics.update({f"{group}.{k}".replace(":", "_"): float(v) for k, v in summary[group].items()})
    sp = params.scrape.model_dump()
    with mlflow.start_run(run_name="scrape", tags={**provenance_tags(params.base.seed), "stage": "scrape"}):
        mlflow.log_params({f"scrape.{k}": str(v)[:500] for k, v in sp.items()})
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(stats_path))


def skip(params: Params, raw_dir: Path) -> dict[str, Any]:
    """``data.source`` is not ``scrape``: leave an empty output so the DVC pipeline stays whole."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    (raw_dir / OUTPUT_NAME).write_text("", encoding="utf-8")
    summary = {"site": params.scrape.site, "items": 0, "skipped": f"data.source is {params.data.source!r}"}
    write_json(Path(params.base.reports_dir) / "scrape_stats.json", summary)
    log.info(
        "skipped: data.source is %r, preprocess reads %s", params.data.source, params.data.hf_name or params.data.path
    )
    return summary


def scrape(params: Params) -> dict[str, Any]:
    from scraping.crawl import run_crawl, write_documents

    sp = params.scrape
    raw_dir = Path(params.base.raw_dir)
    if params.data.source != "scrape":
        return skip(params, raw_dir)
    seeds, annotations = _inputs(sp)
    origin = None
    if sp.site == "demo":
        from scraping.demo_site.build import build_site
        from scraping.demo_site.server import serve

        with tempfile.TemporaryDirectory(prefix="demo-site-") as site_dir:
            counts = build_site(Path(site_dir))
            with serve(Path(site_dir)) as base_url:
                log.info("demo site with %d reviews at %s", counts["reviews"], base_url)
                result = run_crawl(crawl_config(sp, [base_url + "/index.html"], ["127.0.0.1"], annotations))
                origin = (base_url, DEMO_ORIGIN)
    else:
        result = run_crawl(crawl_config(sp, seeds, sp.allowed_domains, annotations))
    journal = result.pop("journal")
    if not result["complete"]:
        journal.close()
        raise cli.StageError(
            f"the crawl was interrupted after {result['pages']} pages ({result['documents']} documents kept); "
            f"its journal is in {sp.state_dir}: run the stage again to resume it (SCRAPE_FRESH=1 starts afresh). "
            f"{raw_dir / OUTPUT_NAME} was left as it was."
        )
    if not result["documents"]:
        journal.discard()
        raise cli.StageError(
            f"the crawl produced no items (finish reason: {result['finish_reason']}, errors: "
            f"{result['errors'] or 'none'}, dropped: {result['dropped'] or 'none'}); check scrape.start_urls "
            f"and the site's markup. {raw_dir / OUTPUT_NAME} was left as it was (under DVC, `dvc checkout "
            "scrape` restores the last good crawl)."
        )
    written = write_documents(journal, raw_dir / OUTPUT_NAME, origin)
    summary = {"site": sp.site, "items": written, **result, "crawled": datetime.now(UTC).isoformat(timespec="seconds")}
    stats_path = Path(params.base.reports_dir) / "scrape_stats.json"
    runlog.write_json_apart(stats_path, summary, RUN_FACTS)
    runlog.write(raw_dir / OUTPUT_NAME, {"crawled": summary["crawled"]})
    journal.discard()
    log.info(
        "%d documents from %d pages in %.1f s (%s); dropped %s; errors %s",
        written,
        result["pages"],
        result["elapsed_s"],
        result["finish_reason"],
        result["dropped"] or "none",
        result["errors"] or "none",
    )
    log_to_mlflow(params, summary, stats_path)
    return summary


def main() -> None:
    cli.parser(__doc__).parse_args()
    scrape(load_params())


if __name__ == "__main__":
    cli.run(main)
