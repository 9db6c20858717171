"""Screenshots of the demo UI on a project's trained models: ``python -m tests.ui_screenshots OUT [--model M ...]``,
run from the project root (``data/processed``, ``models/``, the MLflow store). For each model (default: the
registered champion), ``python -m pipeline ui`` on a free 127.0.0.1 port, Debian's headless Chromium (Playwright)
classifies a test-split review, generates from a prompt, and saves ``<name>_classify.png``, ``<name>_generate.png``,
``<name>_card.png`` into OUT. It prints each label and the seconds from the click to the label."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from tests.serve_helpers import free_port, start

CHROMIUM = "/usr/bin/chromium"
PROMPT = "الخدمة في هذا المطعم"


def idle(page: Any) -> None:
    """Wait until Streamlit has finished running the script (its status widget gone)."""
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="hidden", timeout=120_000)
    page.wait_for_timeout(500)


def shoot(page: Any, url: str, text: str, out: Path, name: str) -> str:
    page.goto(url, timeout=120_000)
    box = page.get_by_label("Review (Arabic, right to left)")
    box.wait_for(timeout=120_000)
    box.fill(text)
    start_s = time.perf_counter()
    page.get_by_role("button", name="Classify").click()
    label = page.get_by_test_id("stMetricValue").first
    label.wait_for(timeout=120_000)
    seconds, shown = time.perf_counter() - start_s, label.inner_text().strip()
    idle(page)
    page.screenshot(path=str(out / f"{name}_classify.png"), full_page=True)
    page.get_by_role("tab", name="Generate").click()
    if page.get_by_label("Prompt (Arabic)").count():
        page.get_by_label("Prompt (Arabic)").fill(PROMPT)
        page.get_by_role("button", name="Generate").click()
        page.locator(".generated").wait_for(timeout=120_000)
        idle(page)
        page.screenshot(path=str(out / f"{name}_generate.png"), full_page=True)
    page.get_by_role("tab", name="Model card").click()
    page.get_by_text("Test macro-F1").wait_for(timeout=60_000)
    idle(page)
    page.screenshot(path=str(out / f"{name}_card.png"), full_page=True)
    return f"{name}: {shown} in {seconds:.2f} s"


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", action="append", default=[], help="model folder or models:/ URI (repeatable)")
    ns = ap.parse_args()
    ns.out.mkdir(parents=True, exist_ok=True)
    lines = Path("data/processed/test.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    row = next((r for r in rows if 60 < len(r["text"]) < 160 and r["label_name"] == "positive"), rows[0])
    print(f"text ({row['label_name']}): {row['text']}")
    for spec in ns.model or [""]:
        name = Path(spec).name if spec and not spec.startswith("models:/") else "champion"
        port = free_port()
        server = start(["-m", "pipeline", "ui", "--port", str(port), "--model", spec], Path.cwd(),
                       ns.out / f"{name}.log", port)  # fmt: skip
        try:
            server.wait("/_stcore/health", timeout=300)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 900, "height": 1000}, locale="ar")
                print(shoot(page, f"http://127.0.0.1:{port}/", row["text"], ns.out, name))
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
