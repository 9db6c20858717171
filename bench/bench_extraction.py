"""Extraction quality on the real Arabic pages of ``../shared/data/html-fixtures`` (with ground truth).

Runs the spider's own per-page path (encoding choice, documents, language filter) on every HTML
fixture and checks the must-contain / must-not-contain snippets and the token-level F1 of the CNN
Arabic article against its expected text. Writes ``reports/bench/extraction.json``.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

from parsel import Selector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save, table

from scraping.documents import ExtractionConfig, page_documents
from scraping.encoding import choose_encoding
from scraping.language import language_drop_reason

FIXTURES = REPO.parent / "shared" / "data" / "html-fixtures"
CNN = "newspaper__arabic.cnn.com.syria-clashes.html"


def token_prf(pred: str, gold: str) -> tuple[float, float, float]:
    p, g = Counter(re.findall(r"\w+", pred)), Counter(re.findall(r"\w+", gold))
    overlap = sum((p & g).values())
    if not overlap:
        return 0.0, 0.0, 0.0
    precision, recall = overlap / sum(p.values()), overlap / sum(g.values())
    return precision, recall, 2 * precision * recall / (precision + recall)


def extract(path: Path) -> tuple[str, str, str | None]:
    body = path.read_bytes()
    encoding, _ = choose_encoding(body, "text/html")
    sel = Selector(text=body.decode(encoding, errors="replace"))
    (doc,) = page_documents(sel, f"http://fixtures/{path.name}", ExtractionConfig(documents="all"))
    return doc["text"], encoding, language_drop_reason(doc["text"])


def main() -> None:
    if not FIXTURES.is_dir():
        print(f"skipped: {FIXTURES} is absent (the extraction benchmark needs ../shared/data)")
        return
    meta = json.loads((FIXTURES / "fixtures.json").read_text(encoding="utf-8"))
    must, must_not, rows = [], [], []
    for m in meta:
        if not m["file"].endswith(".html"):
            continue
        text, encoding, dropped = extract(FIXTURES / m["file"])
        expected = m.get("expected") or {}
        must += [(m["file"], s, s in text) for s in expected.get("must_contain", [])]
        must_not += [(m["file"], s, s not in text) for s in expected.get("must_not_contain", [])]
        rows.append({"file": m["file"], "encoding": encoding, "chars": len(text), "dropped": dropped})
    cnn_text, _, _ = extract(FIXTURES / CNN)
    gold = (FIXTURES / "newspaper__arabic.cnn.com.syria-clashes.expected.txt").read_text(encoding="utf-8")
    precision, recall, f1 = token_prf(cnn_text, gold)
    figures = {
        "must_contain_ok": all(ok for *_, ok in must),
        "must_not_contain_ok": all(ok for *_, ok in must_not),
        "must_contain_checked": len(must),
        "must_not_contain_checked": len(must_not),
        "cnn_token_f1": round(f1, 4),
        "cnn_token_precision": round(precision, 4),
        "cnn_token_recall": round(recall, 4),
        "pages": rows,
        "failed_snippets": [(f, s) for f, s, ok in must + must_not if not ok],
    }
    path = save("extraction", figures)
    print("extraction quality on the shared Arabic fixtures")
    table(
        [
            (f"must-contain ok ({len(must)} snippets)", figures["must_contain_ok"]),
            (f"must-not-contain ok ({len(must_not)} snippets)", figures["must_not_contain_ok"]),
            ("CNN token F1 (target >= 0.9)", figures["cnn_token_f1"]),
            ("CNN token precision / recall", f"{precision:.3f} / {recall:.3f}"),
            ("pages dropped as not Arabic", ", ".join(f"{r['file']} ({r['dropped']})" for r in rows if r["dropped"])),
        ]
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
