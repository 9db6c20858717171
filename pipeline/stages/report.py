"""Stage **report**: ``report.md`` and a self-contained ``report.html`` from saved files only.

Reads ``<reports_dir>/metrics.json``, ``<reports_dir>/eval/*.json`` (with ``significance.json``), each
``<models_dir>/<arch>/run.json``, ``<processed_dir>/summary.json`` and, when present,
``<reports_dir>/registry.json`` (register stage), ``<reports_dir>/tuning/<arch>.json`` (tune stage) and
``<reports_dir>/generation/{metrics,samples}.json`` (generation stage), ``<models_dir>/export/export.json``
(export stage) and ``<reports_dir>/bench/export.json`` (bench/bench_export.py's latencies); never retrains.
Charts are drawn once into ``<reports_dir>/figures/`` (linked from the Markdown, inlined as base64 PNG in the
HTML). Every number can be traced, through the MLflow search the report gives, to its runs, and to the params
listed in the report; run ids, times and the commit stay out of it (the run log's, :mod:`pipeline.runlog`), so
the same outputs give the same report, byte for byte. Scraped text is escaped
in both outputs, and shown right-to-left in the HTML (``dir="rtl"``, ``<bdi>``). The work is done by
:mod:`pipeline.reporting` (collect, sections, render); this module only wires params to it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline import cli
from pipeline.config import Params, load_params
from pipeline.data.integrity import write_text_atomic
from pipeline.reporting.collect import collect
from pipeline.reporting.figureset import draw_figures
from pipeline.reporting.render import render_html, render_markdown
from pipeline.reporting.sections import build

log = logging.getLogger("report")


def report(params: Params) -> None:
    """Write ``report.md``, ``report.html`` and ``figures/`` under ``base.reports_dir``."""
    base = params.base
    out = Path(base.reports_dir)
    inputs = collect(out, base.processed_dir, base.models_dir, params.classifiers)
    figs = draw_figures(inputs, out / "figures")
    content = build(inputs, figs, params.report.title)
    write_text_atomic(out / "report.md", render_markdown(content))  # a reader never sees half a report
    write_text_atomic(out / "report.html", render_html(content))
    log.info("wrote %s and %s (%d figures)", out / "report.md", out / "report.html", len(figs.figures))


def main() -> None:
    cli.parser(__doc__).parse_args()
    report(load_params())


if __name__ == "__main__":
    cli.run(main)
