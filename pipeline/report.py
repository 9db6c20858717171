"""Stage **report**: ``report.md`` and a self-contained ``report.html`` from saved JSON only.

Reads ``<reports_dir>/metrics.json``, ``<reports_dir>/eval/*.json``, each
``<models_dir>/<arch>/run.json`` and ``<processed_dir>/summary.json``; never retrains.
Every number can be traced to an MLflow run id and the params listed in the report.
"""

from __future__ import annotations

import base64
import io
import logging
from html import escape
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, load_params
from pipeline.jsonl import read_json

log = logging.getLogger("report")

CSS = """body{font-family:"DejaVu Sans",Tahoma,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:start}
th{background:#eef}td.num{text-align:end;font-variant-numeric:tabular-nums}.rtl{direction:rtl;text-align:right}
.best{font-weight:bold;background:#efe}code{background:#f4f4f4;padding:0 .2em}img{max-width:100%}"""


def collect(params: Params) -> dict[str, Any]:
    """Everything the report shows, read from the stages' saved files."""
    base = params.base
    reports = Path(base.reports_dir)
    data: dict[str, Any] = {
        "metrics": read_json(reports / "metrics.json"),
        "summary": read_json(Path(base.processed_dir) / "summary.json"),
        "evals": {},
        "runs": {},
    }
    for arch in params.classifiers:
        data["evals"][arch] = read_json(reports / "eval" / f"{arch}.json")
        data["runs"][arch] = read_json(Path(base.models_dir) / arch / "run.json")
    ranking = sorted(data["metrics"], key=lambda a: (-data["metrics"][a]["f1_macro"], a))
    data["ranking"] = ranking
    return data


def _num(value: Any, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def ranking_rows(data: dict[str, Any]) -> list[list[str]]:
    rows = []
    for rank, arch in enumerate(data["ranking"], 1):
        m, run = data["metrics"][arch], data["runs"][arch]
        lat = run.get("latency_ms_per_doc") or {}
        rows.append(
            [
                str(rank),
                arch,
                run.get("family", "recurrent"),
                f"{m['accuracy']:.4f}",
                f"{m['f1_macro']:.4f}",
                _num(run.get("best_val_f1_macro"), ".4f"),
                f"{run['parameters']:,}",
                f"{run['train_time_s']:.1f}",
                _num(lat.get("batch_1"), ".3f"),
                _num(lat.get("batch_64"), ".3f"),
                f"{run['best_epoch']}/{run['epochs_run']}" if run.get("curve") else "–",
                run.get("mlflow_run_id") or "–",
            ]
        )
    return rows


RANK_HEADER = [
    "#",
    "architecture",
    "family",
    "test accuracy",
    "test macro-F1",
    "best val macro-F1",
    "parameters",
    "train time (s)",
    "latency ms/doc (batch 1, CPU)",
    "latency ms/doc (batch 64, CPU)",
    "best/run epochs",
    "MLflow run",
]


def _latency_1(run: dict[str, Any]) -> float | None:
    return (run.get("latency_ms_per_doc") or {}).get("batch_1")


def cost_png(data: dict[str, Any]) -> str | None:
    """Accuracy against cost: test macro-F1 vs parameters and vs CPU latency (batch 1), as base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = [a for a in data["ranking"] if data["runs"][a].get("parameters")]
    if not archs:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    costs = [
        ("parameters (log scale)", lambda run: run["parameters"]),
        ("CPU latency, ms/doc at batch 1 (log scale)", _latency_1),
    ]
    for ax, (label, cost) in zip(axes, costs, strict=True):
        for arch in archs:
            x = cost(data["runs"][arch])
            if not x:
                continue
            y = data["metrics"][arch]["f1_macro"]
            baseline = data["runs"][arch].get("family") == "baseline"
            color = f"C{archs.index(arch) % 10}"  # one colour per architecture on both charts
            ax.scatter([x], [y], marker="s" if baseline else "o", s=40, color=color)
            ax.annotate(arch, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test macro-F1")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def curve_png(data: dict[str, Any]) -> str | None:
    """Validation macro-F1 per epoch, all architectures on one chart, as base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    plotted = False
    for arch in data["ranking"]:
        curve = [r for r in data["runs"][arch].get("curve", []) if "val/f1_macro" in r]
        if curve:
            ax.plot([r["epoch"] for r in curve], [r["val/f1_macro"] for r in curve], marker="o", label=arch)
            plotted = True
    if not plotted:
        plt.close(fig)
        return None
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation macro-F1")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]], highlight_first: bool = False) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="best"' if highlight_first and i == 0 else ""
        cells = "".join(
            f'<td class="num">{escape(c)}</td>'
            if c.replace(".", "").replace(",", "").isdigit()
            else f"<td>{escape(c)}</td>"
            for c in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def data_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    labels = [c["label"] for c in summary["classes"]]
    header = ["split", "documents", *labels, "tokens", "median tokens/doc", "OOV rate"]
    rows = []
    for name, s in summary["splits"].items():
        rows.append(
            [
                name,
                str(s["documents"]),
                *(str(s["class_counts"][lab]) for lab in labels),
                str(s["tokens"]),
                f"{s['tokens_per_doc']['median']:g}",
                f"{s['oov_rate']:.2%}",
            ]
        )
    return header, rows


def class_rows(summary: dict[str, Any]) -> list[list[str]]:
    rows = []
    for c in summary["classes"]:
        if "min_score" not in c:  # categorical labels from the source
            rows.append([str(c["id"]), c["label"], "label given by the source"])
            continue
        upper = "≤" if c["max_inclusive"] else "<"
        rows.append([str(c["id"]), c["label"], f"{c['min_score']:g} ≤ score {upper} {c['max_score']:g}"])
    return rows


def quality_lines(summary: dict[str, Any]) -> list[str]:
    """Plain sentences on where the data came from and what was dropped or grouped."""
    source = summary.get("source", {})
    near = summary.get("near_duplicates", {})
    return [
        f"Source: {', '.join(f'{k}={v}' for k, v in source.items() if v is not None)}.",
        f"Dropped while preprocessing: {summary['dropped'] or 'none'}.",
        f"Near-duplicate groups kept within one split: {near.get('groups', 0)} "
        f"({near.get('documents_grouped', 0)} documents).",
        f"Class map: {summary.get('class_map', {}).get('method', 'fixed')}; stemmer: {summary.get('stemmer', '?')}.",
    ]


def params_rows(data: dict[str, Any]) -> list[list[str]]:
    """The params the best model was trained with, as recorded in its run.json."""
    return [[k, str(v)] for k, v in data["runs"][data["ranking"][0]]["params"].items()]


def confusion_rows(ev: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    labels = ev["labels"]
    header = ["true \\ predicted", *labels]
    rows = [[labels[i], *(str(v) for v in row)] for i, row in enumerate(ev["confusion_matrix"])]
    return header, rows


def render_markdown(params: Params, data: dict[str, Any]) -> str:
    s = data["summary"]
    run0 = data["runs"][data["ranking"][0]]
    parts = [
        f"# {params.report.title}",
        "",
        f"Git commit `{run0['git_commit']}`, seed {run0['seed']}. "
        f"{s['documents']} documents, vocabulary {s['vocab_size']} (train split only).",
        "",
        "## Ranking (test split)",
        "",
        _md_table(RANK_HEADER, ranking_rows(data)),
        "",
        "## Data",
        "",
        _md_table(*data_rows(s)),
        "",
        "Classes:",
        "",
        _md_table(["id", "label", "scores"], class_rows(s)),
        "",
        *(f"- {line}" for line in quality_lines(s)),
        "",
        "## Per-class results",
    ]
    for arch in data["ranking"]:
        ev = data["evals"][arch]
        rows = [
            [lab, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(v["support"])]
            for lab, v in ev["per_class"].items()
        ]
        parts += [
            "",
            f"### {arch}",
            "",
            _md_table(["class", "precision", "recall", "F1", "support"], rows),
            "",
            _md_table(*confusion_rows(ev)),
        ]
    parts += [
        "",
        "## Params (as recorded by the best model's training run)",
        "",
        _md_table(["key", "value"], params_rows(data)),
        "",
    ]
    return "\n".join(parts)


def render_html(params: Params, data: dict[str, Any]) -> str:
    s = data["summary"]
    run0 = data["runs"][data["ranking"][0]]
    png = curve_png(data)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(params.report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(params.report.title)}</h1>",
        f"<p>Git commit <code>{escape(str(run0['git_commit']))}</code>, seed {run0['seed']}. "
        f"{s['documents']} documents, vocabulary {s['vocab_size']} (train split only).</p>",
        "<h2>Ranking (test split)</h2>",
        _html_table(RANK_HEADER, ranking_rows(data), highlight_first=True),
    ]
    cost = cost_png(data)
    if cost:
        parts += [
            "<h2>Accuracy against cost</h2>",
            f'<img alt="test macro-F1 against parameters and CPU latency" src="data:image/png;base64,{cost}">',
        ]
    if png:
        parts += [
            "<h2>Learning curves</h2>",
            f'<img alt="validation macro-F1 per epoch" src="data:image/png;base64,{png}">',
        ]
    parts += [
        "<h2>Data</h2>",
        _html_table(*data_rows(s)),
        "<h3>Classes</h3>",
        _html_table(["id", "label", "scores"], class_rows(s)),
        "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in quality_lines(s)) + "</ul>",
        "<h2>Per-class results</h2>",
    ]
    for arch in data["ranking"]:
        ev = data["evals"][arch]
        rows = [
            [lab, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(v["support"])]
            for lab, v in ev["per_class"].items()
        ]
        parts += [
            f'<h3 id="{escape(arch)}">{escape(arch)}</h3>',
            _html_table(["class", "precision", "recall", "F1", "support"], rows),
            _html_table(*confusion_rows(ev)),
        ]
        if ev.get("examples"):
            ex_rows = "".join(
                f'<tr><td class="rtl" dir="rtl" lang="ar">{escape(e["text"])}</td><td>{escape(e["true"])}</td>'
                f'<td>{escape(e["pred"])}</td><td class="num">{e["confidence"]:.2f}</td></tr>'
                for e in ev["examples"]
            )
            parts.append(
                "<details open><summary>Test examples</summary><table><thead><tr><th>text</th><th>true</th>"
                f"<th>predicted</th><th>confidence</th></tr></thead><tbody>{ex_rows}</tbody></table></details>"
            )
    parts += [
        "<h2>Params (as recorded by the best model's training run)</h2>",
        _html_table(["key", "value"], params_rows(data)),
        "</body></html>",
    ]
    return "\n".join(parts)


def report(params: Params) -> None:
    data = collect(params)
    out = Path(params.base.reports_dir)
    (out / "report.md").write_text(render_markdown(params, data), encoding="utf-8")
    (out / "report.html").write_text(render_html(params, data), encoding="utf-8")
    log.info("wrote %s and %s", out / "report.md", out / "report.html")


def main() -> None:
    report(load_params())


if __name__ == "__main__":
    cli.run(main)
