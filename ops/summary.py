"""The retrain job's summary in Markdown: ``python -m ops.summary [--reports DIR] [--out FILE]``.

Read from the files the pipeline wrote: the crawl (``scrape_stats.json``), the data checks
(``data_checks.json``), the test metrics (``metrics.json``) and the gate's decision (``registry.json``). A file
that is missing (a stage that failed or did not run) is said so. Printed on stdout, appended to
``$GITHUB_STEP_SUMMARY`` when set (the workflow's job summary) and written to ``--out`` (the pull request's
body). Exits 1 when there is no gate decision, so a job without one is not green.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _gate(reg: dict[str, Any] | None) -> list[str]:
    if reg is None:
        return ["**Gate: no decision** (`registry.json` is missing: the register stage did not run)."]
    metrics = reg.get("metrics", {})
    f1 = metrics.get("test/f1_macro")
    ci = (metrics.get("test/f1_macro_ci_low"), metrics.get("test/f1_macro_ci_high"))
    lines = [
        f"**Gate: {reg.get('decision', '?')}**: {reg.get('reason', '')}",
        "",
        "| | |",
        "|---|---|",
        f"| model | `{reg.get('name', '?')}` |",
        f"| challenger | version {reg.get('challenger_version', '?')} ({reg.get('arch', '?')}) |",
        f"| champion before | version {reg.get('champion_version') or 'none'} |",
        f"| `@{reg.get('alias', 'champion')}` now | version {reg.get('alias_version') or 'none'} |",
    ]
    if f1 is not None:
        interval = f" (95% CI {ci[0]:.4f}–{ci[1]:.4f})" if None not in ci else ""
        lines.append(f"| challenger test macro-F1 | {f1:.4f}{interval} |")
    return lines


def _checks(checks: dict[str, Any] | None) -> list[str]:
    if checks is None:
        return ["Data checks: no `data_checks.json`."]
    failed = [f"- {name}: {c.get('message', '')}" for name, c in checks.get("checks", {}).items() if not c["passed"]]
    if checks.get("passed"):
        return [f"Data checks: all {len(checks.get('checks', {}))} passed."]
    return ["Data checks: **failed**", *failed]


def _scrape(stats: dict[str, Any] | None) -> list[str]:
    if stats is None:
        return ["Crawl: no `scrape_stats.json`."]
    return [
        f"Crawl ({stats.get('site', '?')}): {stats.get('pages', '?')} pages, {stats.get('documents', '?')} documents, "
        f"finish reason `{stats.get('finish_reason', '?')}` ({stats.get('resumed_pages', 0)} pages resumed)."
    ]


def _metrics(metrics: dict[str, Any] | None) -> list[str]:
    if not metrics:
        return []
    rows = [f"| {arch} | {m.get('accuracy', float('nan')):.4f} | {m.get('f1_macro', float('nan')):.4f} |"
            for arch, m in metrics.items() if isinstance(m, dict)]  # fmt: skip
    return ["", "| classifier | test accuracy | test macro-F1 |", "|---|---|---|", *rows]


def summary(reports: Path) -> tuple[str, bool]:
    """The Markdown and whether the gate decided."""
    reg = _read(reports / "registry.json")
    lines = ["## Scheduled retrain", "", *_gate(reg), "", *_scrape(_read(reports / "scrape_stats.json"))]
    lines += ["", *_checks(_read(reports / "data_checks.json")), *_metrics(_read(reports / "metrics.json"))]
    return "\n".join(lines) + "\n", reg is not None and "decision" in reg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ops.summary", description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=Path, default=Path("reports"), help="the reports folder (default: reports)")
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown to this file")
    args = ap.parse_args(argv)
    text, decided = summary(args.reports)
    print(text, end="")
    targets = [args.out] if args.out else []
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        targets.append(Path(os.environ["GITHUB_STEP_SUMMARY"]))
    for target in targets:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a" if target != args.out else "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"error: cannot write the summary to {target}: {exc.strerror}", file=sys.stderr)
            return 1
    return 0 if decided else 1


if __name__ == "__main__":
    raise SystemExit(main())
