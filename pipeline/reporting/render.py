"""Render a :class:`~pipeline.reporting.model.Report` to Markdown and to self-contained HTML (Jinja2 templates).

Both outputs escape every value that comes from data (scraped text, labels, params): the HTML template with
Jinja's autoescape, the Markdown template with :func:`md_escape`, applied to every ``{{ ... }}`` by the
environment's ``finalize`` (so a value cannot be printed unescaped by forgetting a filter). Only
:class:`markupsafe.Markup` passes through: a macro's output (marked with ``|safe``) and :func:`md_code`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from pipeline.reporting.model import Report

TEMPLATES = "templates"
_NEWLINES = re.compile(r"\r\n|\r|\n")
CSS = """body{font-family:"DejaVu Sans",Tahoma,Arial,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:start}
th{background:#eef}td.num{text-align:end;font-variant-numeric:tabular-nums}.rtl{direction:rtl;text-align:right}
.best{font-weight:bold;background:#efe}code{background:#f4f4f4;padding:0 .2em}img{max-width:100%}
.tok{padding:.1em .25em;margin:0 .1em;border-radius:.25em;line-height:2}.note{color:#555;font-size:.9em}
details{margin:.5em 0}summary{cursor:pointer;font-weight:bold}table.rank{font-size:.8em}"""


def md_escape(value: Any) -> str:
    """Text made inert in Markdown: HTML-special characters as entities (no raw HTML gets through), table pipes
    escaped and line breaks as spaces (a value never breaks out of its table cell, list item or heading)."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _NEWLINES.sub(" ", text.replace("|", "\\|"))


def md_code(value: Any) -> Markup:
    """``value`` as a Markdown code span (shown literally, so only backticks and line breaks need care)."""
    text = _NEWLINES.sub(" ", str(value))
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if len(fence) > 1 else ""
    return Markup(f"{fence}{pad}{text}{pad}{fence}")


def _md_finalize(value: Any) -> Any:
    return value if isinstance(value, Markup) else md_escape(value)


def is_number(value: Any) -> bool:
    """A table cell shown right-aligned: digits with optional ``.`` and ``,``."""
    return str(value).replace(".", "").replace(",", "").isdigit()


def _loader() -> jinja2.BaseLoader:
    return jinja2.PackageLoader("pipeline.reporting", TEMPLATES)


@cache
def markdown_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=_loader(),
        autoescape=False,  # Markdown: md_escape via finalize instead
        finalize=_md_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["code"] = md_code
    return env


@cache
def html_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=_loader(),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.tests["number"] = is_number
    return env


def render_markdown(report: Report) -> str:
    """``report.md``: GitHub-flavoured Markdown, figures linked from ``figures/``."""
    return markdown_env().get_template("report.md.j2").render(r=report)


def render_html(report: Report) -> str:
    """``report.html``: one self-contained page (inline CSS, figures as data URIs), scraped text right-to-left."""
    return html_env().get_template("report.html.j2").render(r=report, css=Markup(CSS))
