"""The crawl journal: an append-only record that makes a crawl resumable after Ctrl-C or a kill.

One JSON line per finished request (fetched, failed or skipped): its URL, depth, status, the links it
led to, the documents it produced and what was dropped. Each line is written with a single
``os.write`` on an ``O_APPEND`` descriptor, so a killed process leaves whole lines behind (at worst a
torn last line, which :meth:`CrawlJournal.open` cuts off). A page and its documents are recorded
together or not at all: a resumed crawl refetches nothing that was recorded and loses nothing that was.

Resuming rebuilds from the journal the set of done URLs, the frontier (links not yet done, with their
depth), the duplicate detector and the running statistics. A ``fingerprint`` of what the crawl
collects (start URLs, scope, extraction settings) is stored beside the journal: a journal written
under another configuration is discarded rather than resumed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from w3lib.url import canonicalize_url

from scraping.dedup import Deduplicator

log = logging.getLogger(__name__)
JOURNAL = "journal.jsonl"
FINGERPRINT = "fingerprint"


def url_key(url: str) -> str:
    """The key under which a URL counts as done (Scrapy's request fingerprint canonicalises the same way)."""
    return canonicalize_url(url)


@dataclass
class JournalSummary:
    """Totals over every record in the journal (all runs of a resumed crawl)."""

    pages: int = 0  # responses received (any status)
    documents: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, record: dict[str, Any]) -> None:
        if record.get("status") is not None:
            self.pages += 1
        self.documents += len(record.get("docs", ()))
        self.dropped.update(record.get("dropped", {}))
        if record.get("error"):
            self.errors[record["error"]] += 1
        if record.get("skipped"):
            self.skipped[record["skipped"]] += 1


class CrawlJournal:
    """Append-only crawl record in ``state_dir``; see the module docstring."""

    def __init__(self, state_dir: str | Path, fingerprint: str, dedup: Deduplicator | None = None):
        self.state_dir = Path(state_dir)
        self.fingerprint = fingerprint
        self.dedup = dedup if dedup is not None else Deduplicator()
        self.done: set[str] = set()
        self.frontier: dict[str, int] = {}  # url -> depth, links seen but not done
        self.summary = JournalSummary()
        self.resumed_records = 0
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.state_dir / JOURNAL

    def open(self, resume: bool = True) -> CrawlJournal:
        """Load an existing journal written under the same fingerprint (when ``resume``), else start afresh."""
        fp_file = self.state_dir / FINGERPRINT
        if self.state_dir.exists():
            same = fp_file.is_file() and fp_file.read_text(encoding="utf-8").strip() == self.fingerprint
            if not (resume and same):
                why = "fresh crawl requested" if not resume else "the scrape configuration changed"
                log.warning("discarding the crawl state in %s (%s)", self.state_dir, why)
                shutil.rmtree(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fp_file.write_text(self.fingerprint + "\n", encoding="utf-8")
        if self.path.exists():
            self._load()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self

    def _load(self) -> None:
        good_bytes = 0
        with self.path.open("rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # torn last write of a killed process
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError:
                    break
                good_bytes += len(raw)
                self._replay(record)
        if good_bytes < self.path.stat().st_size:
            log.warning("%s: cutting a torn last record (%d bytes)", self.path, self.path.stat().st_size - good_bytes)
            os.truncate(self.path, good_bytes)
        for key in self.done:
            self.frontier.pop(key, None)
        log.info(
            "resuming a crawl: %d requests done, %d documents kept, %d links pending",
            self.resumed_records,
            self.summary.documents,
            len(self.frontier),
        )

    def _replay(self, record: dict[str, Any]) -> None:
        self.resumed_records += 1
        self.done.add(url_key(record["url"]))
        self.summary.add(record)
        depth = record.get("depth", 0) + 1
        for link in record.get("links", ()):
            self.frontier.setdefault(url_key(link), depth)
        for doc in record.get("docs", ()):
            self.dedup.check(doc["text"], doc.get("content_hash"))

    def is_done(self, url: str) -> bool:
        return url_key(url) in self.done

    def record(self, url: str, depth: int, **fields: Any) -> None:
        """Append one request's outcome (``status``, ``links``, ``docs``, ``dropped``, ``error``, ``skipped``)."""
        record = {"url": url, "depth": depth, **{k: v for k, v in fields.items() if v}}
        if "status" in fields:
            record["status"] = fields["status"]
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        assert self._fd is not None, "CrawlJournal.open() first"
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self.done.add(url_key(url))
        self.summary.add(record)

    def documents(self) -> Iterator[dict[str, Any]]:
        """Every document recorded, in journal order (streamed from disk)."""
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                yield from json.loads(line).get("docs", ())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Remove the state once its crawl has been turned into the final output."""
        self.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)
