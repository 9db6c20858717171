"""Stage **report**: ``report.md`` and a self-contained ``report.html`` from saved files only.

Reads ``<reports_dir>/metrics.json``, ``<reports_dir>/eval/*.json`` (with ``significance.json``), each
``<models_dir>/<arch>/run.json``, ``<processed_dir>/summary.json`` and, when present,
``<reports_dir>/registry.json`` (register stage), ``<reports_dir>/tuning/<arch>.json`` (tune stage) and
``<reports_dir>/generation/{metrics,samples}.json`` (generation stage); never retrains. Charts are
inlined as base64 PNG in the HTML and written to ``<reports_dir>/figures/`` for the Markdown. Every
number can be traced to an MLflow run id, a git commit and the params listed in the report. Scraped
text is escaped and shown right-to-left (``dir="rtl"``, ``<bdi>``).
"""

from __future__ import annotations

import base64
import logging
import shutil
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, load_params
from pipeline.data.jsonl import read_json
from pipeline.reporting import figures

log = logging.getLogger("report")

CSS = """body{font-family:"DejaVu Sans",Tahoma,Arial,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:start}
th{background:#eef}td.num{text-align:end;font-variant-numeric:tabular-nums}.rtl{direction:rtl;text-align:right}
.best{font-weight:bold;background:#efe}code{background:#f4f4f4;padding:0 .2em}img{max-width:100%}
.tok{padding:.1em .25em;margin:0 .1em;border-radius:.25em;line-height:2}.note{color:#555;font-size:.9em}
details{margin:.5em 0}summary{cursor:pointer;font-weight:bold}table.rank{font-size:.8em}"""


def _read_optional(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


def collect(params: Params) -> dict[str, Any]:
    """Everything the report shows, read from the stages' saved files."""
    base = params.base
    reports = Path(base.reports_dir)
    data: dict[str, Any] = {
        "metrics": read_json(reports / "metrics.json"),
        "summary": read_json(Path(base.processed_dir) / "summary.json"),
        "significance": _read_optional(reports / "eval" / "significance.json"),
        "registry": _read_optional(reports / "registry.json"),
        "generation": _read_optional(reports / "generation" / "metrics.json"),
        "samples": _read_optional(reports / "generation" / "samples.json"),
        "evals": {},
        "runs": {},
        "tuning": {},
    }
    for arch in params.classifiers:
        data["evals"][arch] = read_json(reports / "eval" / f"{arch}.json")
        data["runs"][arch] = read_json(Path(base.models_dir) / arch / "run.json")
        study = _read_optional(reports / "tuning" / f"{arch}.json")
        if study and study.get("trials"):
            data["tuning"][arch] = study
    data["ranking"] = sorted(data["metrics"], key=lambda a: (-data["metrics"][a]["f1_macro"], a))
    return data


def _num(value: Any, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _ci(ev: dict[str, Any], key: str) -> str:
    ci = ev.get("ci", {}).get(key)
    return f"[{ci['low']:.3f}, {ci['high']:.3f}]" if ci else "–"


def _seeds(ev: dict[str, Any]) -> str:
    seeds = ev.get("seeds") or []
    if len(seeds) < 2:
        return "–"
    return f"{ev['seed_mean']['f1_macro']:.4f} ± {ev['seed_std']['f1_macro']:.4f} (n={len(seeds)})"


def _versus_best(ev: dict[str, Any], best: str | None) -> str:
    sig = ev.get("significance")
    if ev.get("arch") == best:
        return "best"
    if not sig:
        return "–"
    verdict = "worse" if sig["significant"] else "not different"
    return f"p={sig['p_holm']:.3f} ({verdict})"


RANK_HEADER = [
    "#",
    "architecture",
    "family",
    "test accuracy [95% CI]",
    "test macro-F1 [95% CI]",
    "macro-F1 over seeds (mean ± std)",
    "weighted F1",
    "ECE",
    "vs best (McNemar, Holm p)",
    "best val macro-F1",
    "parameters",
    "train time (s)",
    "latency ms/doc, CPU (batch 1 / 64)",
    "best/run epochs",
    "MLflow run",
]


def ci_percent(data: dict[str, Any]) -> str:
    """The evaluation's interval level as a percentage, e.g. ``95%``."""
    levels = [ev["ci"]["level"] for ev in data["evals"].values() if "ci" in ev]
    return f"{100 * levels[0]:g}%" if levels else "95%"


def rank_header(data: dict[str, Any]) -> list[str]:
    return [h.replace("95%", ci_percent(data)) for h in RANK_HEADER]


def ranking_rows(data: dict[str, Any]) -> list[list[str]]:
    rows = []
    best = (data.get("significance") or {}).get("best")
    for rank, arch in enumerate(data["ranking"], 1):
        m, run, ev = data["metrics"][arch], data["runs"][arch], data["evals"][arch]
        lat = run.get("latency_ms_per_doc") or {}
        rows.append(
            [
                str(rank),
                arch,
                run.get("family", "recurrent"),
                f"{m['accuracy']:.4f} {_ci(ev, 'accuracy')}",
                f"{m['f1_macro']:.4f} {_ci(ev, 'f1_macro')}",
                _seeds(ev),
                _num(ev.get("f1_weighted"), ".4f"),
                _num(ev.get("calibration", {}).get("ece"), ".4f"),
                _versus_best(ev, best),
                _num(run.get("best_val_f1_macro"), ".4f"),
                f"{run['parameters']:,}" if run.get("parameters") is not None else "–",
                _num(run.get("train_time_s"), ".1f"),
                f"{_num(lat.get('batch_1'), '.3f')} / {_num(lat.get('batch_64'), '.3f')}",
                f"{run['best_epoch']}/{run['epochs_run']}" if run.get("curve") else "–",
                run.get("mlflow_run_id") or "–",
            ]
        )
    return rows


def significance_lines(data: dict[str, Any]) -> list[str]:
    sig = data.get("significance")
    if not sig:
        return []
    real = [a for a, c in sig["comparisons"].items() if c["significant"]]
    same = [a for a, c in sig["comparisons"].items() if not c["significant"]]
    test = next(iter(sig["comparisons"].values()), {}).get("method", "")
    lines = [
        f"Best on test macro-F1: {sig['best']}. McNemar's test against each other model on the same test "
        f"documents ({test or 'exact binomial or chi-square'}), p-values Holm-adjusted, alpha {sig['alpha']}."
    ]
    lines.append(f"Really worse than {sig['best']}: {', '.join(real) if real else 'none'}.")
    lines.append(f"Not distinguishable from {sig['best']} on this test set: {', '.join(same) if same else 'none'}.")
    lines.append(
        f"Intervals are {ci_percent(data)} percentile-bootstrap intervals over the test documents; with a small test "
        "split they are wide, so read differences inside them as noise."
    )
    return lines


def cost_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "arch": a,
            "f1_macro": data["metrics"][a]["f1_macro"],
            "parameters": data["runs"][a].get("parameters"),
            "latency": (data["runs"][a].get("latency_ms_per_doc") or {}).get("batch_1"),
            "baseline": data["runs"][a].get("family") == "baseline",
        }
        for a in data["ranking"]
    ]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]], highlight_first: bool = False, cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        best = ' class="best"' if highlight_first and i == 0 else ""
        cells = "".join(
            f'<td class="num">{escape(c)}</td>'
            if c.replace(".", "").replace(",", "").isdigit()
            else f"<td>{escape(c)}</td>"
            for c in row
        )
        body.append(f"<tr{best}>{cells}</tr>")
    table = f' class="{cls}"' if cls else ""
    return f"<table{table}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _rtl(text: str) -> str:
    """Scraped or generated text, escaped, as a right-to-left cell."""
    return f'<td class="rtl" dir="rtl" lang="ar"><bdi>{escape(text)}</bdi></td>'


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
    return [[k, str(v)] for k, v in data["runs"][data["ranking"][0]].get("params", {}).items()]


def provenance_rows(data: dict[str, Any]) -> list[list[str]]:
    """Per model: the MLflow runs (training run, other seeds' runs) and the git commit behind its numbers."""
    rows = []
    for arch in data["ranking"]:
        run, ev = data["runs"][arch], data["evals"][arch]
        others = ", ".join(f"{s['seed']}: {s.get('mlflow_run_id') or '–'}" for s in (ev.get("seeds") or [])[1:])
        rows.append(
            [
                arch,
                str(run.get("seed", "–")),
                run.get("mlflow_run_id") or "–",
                others or "–",
                str(run.get("git_commit", "–")),
                f"eval/{arch}.json",
            ]
        )
    return rows


PROVENANCE_HEADER = ["architecture", "seed", "MLflow training run (test metrics logged there)", "other seeds' runs",
                     "git commit", "evaluation file"]  # fmt: skip


def confusion_rows(ev: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    labels = ev["labels"]
    header = ["true \\ predicted", *labels]
    rows = [[labels[i], *(str(v) for v in row)] for i, row in enumerate(ev["confusion_matrix"])]
    return header, rows


def per_class_rows(ev: dict[str, Any]) -> list[list[str]]:
    ap = {lab: (ev.get("pr_curves") or {}).get(lab, {}).get("average_precision") for lab in ev["per_class"]}
    return [
        [lab, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", _num(ap[lab], ".3f"), str(v["support"])]
        for lab, v in ev["per_class"].items()
    ]


PER_CLASS_HEADER = ["class", "precision", "recall", "F1", "average precision", "support"]


def registry_lines(data: dict[str, Any]) -> list[str]:
    reg = data.get("registry")
    if not reg:
        return []
    metrics = reg.get("metrics", {})
    return [
        f"`{reg['arch']}` is registered in the MLflow model registry as **{reg['name']}** version {reg['version']} "
        f"(alias `@{reg['alias']}`), chosen by {reg['selected_by']} macro-F1.",
        f'Load it with `mlflow.pyfunc.load_model("{reg["uri"]}")` and call `.predict()` on a DataFrame with a '
        "`text` column of raw Arabic text.",
        f"Its test macro-F1 {metrics.get('test/f1_macro', float('nan')):.4f}; training run "
        f"{reg.get('training_run_id')}, registering run {reg.get('register_run_id')}.",
    ]


def generation_rows(gen: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    rows = gen.get("rows") or []
    preferred = ["dataset", "model", "perplexity", "bleu", "chrf", "distinct_2", "train_tokens_per_s", "parameters"]
    keys = [k for k in preferred if any(k in r for r in rows)]
    keys += [k for k in ("mlflow_run_id",) if any(k in r for r in rows)]
    return keys, [[_fmt(r.get(k)) for k in keys] for r in rows]


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _decoding(d: Any) -> str:
    if isinstance(d, dict):
        return str(d.get("name") or ", ".join(f"{k}={v}" for k, v in d.items()))
    return str(d)


def agreement_line(gen: dict[str, Any]) -> str | None:
    ca = gen.get("class_agreement")
    if not ca:
        return None
    return (
        f"Class agreement of generated reviews (does {ca.get('classifier', 'the classifier')} give the prompted "
        f"class?): {ca.get('rate')} over {ca.get('n')} samples ({ca.get('model', '')}), chance {ca.get('chance')}."
    )


def token_spans(exp: dict[str, Any]) -> str:
    """An explanation's tokens as coloured, escaped spans (the browser shapes and orders the Arabic)."""
    scores = exp["scores"]
    signed = exp.get("method") not in ("attention", "attention_rollout")
    scale = max((abs(s) for s in scores), default=0.0)
    spans = []
    for tok, s in zip(exp["tokens"], scores, strict=True):
        r, g, b, a = figures._token_color(s, scale, signed)
        color = f"rgba({int(r * 255)},{int(g * 255)},{int(b * 255)},{a:.2f})"
        spans.append(f'<span class="tok" style="background:{color}" title="{s:.4f}">{escape(tok)}</span>')
    return f'<p class="rtl" dir="rtl" lang="ar">{" ".join(spans)}</p>'


class Figures:
    """PNG charts, written once to ``<reports_dir>/figures/`` and given to both renderers."""

    def __init__(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        self.folder = folder
        self.png: dict[str, bytes] = {}

    def add(self, name: str, make: Callable[[], bytes | None]) -> bool:
        png = make()
        if png is None:
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{name}.png").write_bytes(png)
        self.png[name] = png
        return True

    def md(self, name: str, alt: str) -> str:
        return f"![{alt}](figures/{name}.png)" if name in self.png else ""

    def html(self, name: str, alt: str) -> str:
        if name not in self.png:
            return ""
        return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(self.png[name]).decode()}">'


def make_figures(data: dict[str, Any], folder: Path) -> Figures:
    figs = Figures(folder)
    evals = {a: data["evals"][a] for a in data["ranking"]}
    figs.add("cost", lambda: figures.cost_chart(cost_rows(data)))
    figs.add("curves", lambda: figures.curves_chart({a: data["runs"][a].get("curve", []) for a in data["ranking"]}))
    figs.add("confusion", lambda: figures.confusion_chart(evals))
    figs.add("pr", lambda: figures.pr_chart(evals))
    figs.add("calibration", lambda: figures.reliability_chart(evals))
    for arch, ev in evals.items():
        if ev.get("explanations"):
            method = ev["explanations"][0]["method"].replace("_", " ")
            figs.add(
                f"explain-{arch}",
                lambda ev=ev, t=f"{ev['arch']}: {method}": figures.tokens_chart(ev["explanations"], t),
            )
    for arch, study in data["tuning"].items():
        figs.add(f"tuning-{arch}", lambda s=study: figures.tuning_chart(s))
    return figs


def _errors(ev: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for errs in (ev.get("confident_errors") or {}).values() for e in errs]


def render_markdown(params: Params, data: dict[str, Any], figs: Figures) -> str:
    s = data["summary"]
    run0 = data["runs"][data["ranking"][0]]
    parts = [
        f"# {params.report.title}",
        "",
        f"Git commit `{run0.get('git_commit')}`, seed {run0.get('seed')}. "
        f"{s['documents']} documents, vocabulary {s['vocab_size']} (train split only).",
        "",
        "## Ranking (test split)",
        "",
        _md_table(rank_header(data), ranking_rows(data)),
        "",
        *(f"- {line}" for line in significance_lines(data)),
        "",
    ]
    if data.get("registry"):
        parts += ["## Registered model", "", *(f"- {line}" for line in registry_lines(data)), ""]
    parts += [
        "## Accuracy against cost",
        "",
        figs.md("cost", "test macro-F1 against parameters and CPU latency, Pareto front"),
        "",
        "## Learning curves",
        "",
        figs.md("curves", "validation macro-F1 per epoch"),
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
        "## Confusion matrices, precision-recall curves, calibration",
        "",
        figs.md("confusion", "confusion matrices"),
        "",
        figs.md("pr", "precision-recall curves"),
        "",
        figs.md("calibration", "reliability diagram"),
        "",
        "## Per-class results",
    ]
    for arch in data["ranking"]:
        ev = data["evals"][arch]
        parts += ["", f"### {arch}", "", _md_table(PER_CLASS_HEADER, per_class_rows(ev)), ""]
        parts += [_md_table(*confusion_rows(ev))]
    parts += ["", "## Error analysis: the most confidently wrong test documents", ""]
    for arch in data["ranking"]:
        errs = _errors(data["evals"][arch])
        if errs:
            rows = [[e["true"], e["pred"], f"{e['confidence']:.2f}", e["text"][:300]] for e in errs]
            parts += [f"### {arch}", "", _md_table(["true", "predicted", "confidence", "text"], rows), ""]
    explained = [a for a in data["ranking"] if f"explain-{a}" in figs.png]
    if explained:
        parts += ["## Interpretability", ""]
        for arch in explained:
            parts += [f"### {arch}", "", figs.md(f"explain-{arch}", f"token scores, {arch}"), ""]
    parts += tuning_markdown(data, figs) + generation_markdown(data)
    parts += [
        "## Provenance",
        "",
        _md_table(PROVENANCE_HEADER, provenance_rows(data)),
        "",
        "## Params (as recorded by the best model's training run)",
        "",
        _md_table(["key", "value"], params_rows(data)),
        "",
    ]
    return "\n".join(parts)


def tuning_markdown(data: dict[str, Any], figs: Figures) -> list[str]:
    if not data["tuning"]:
        return []
    parts = ["## Tuning", ""]
    for arch, study in data["tuning"].items():
        best = study.get("best") or {}
        parts += [
            f"### {arch}",
            "",
            f"Study `{study.get('study_name')}`: {study.get('n_trials')} trials {study.get('states', {})}, "
            f"best value {_fmt(best.get('value'))} (trial {best.get('number')}), MLflow parent run "
            f"{study.get('mlflow_parent_run_id')}.",
            "",
            figs.md(f"tuning-{arch}", f"tuning history, {arch}"),
            "",
            _md_table(["param", "best value"], [[k, _fmt(v)] for k, v in (best.get("params") or {}).items()]),
            "",
        ]
    return parts


def generation_markdown(data: dict[str, Any]) -> list[str]:
    gen, samples = data.get("generation"), data.get("samples")
    if not gen and not samples:
        return []
    parts = ["## Text generation", ""]
    if gen:
        parts += [_md_table(*generation_rows(gen)), ""]
        line = agreement_line(gen)
        parts += [f"- {line}", ""] if line else []
    if samples:
        rows = [
            [str(x.get("model")), str(x.get("topic")), _decoding(x.get("decoding")), str(x.get("text"))]
            for x in samples
        ]
        parts += [_md_table(["model", "topic", "decoding", "text"], rows), ""]
    return parts


def render_html(params: Params, data: dict[str, Any], figs: Figures) -> str:
    s = data["summary"]
    run0 = data["runs"][data["ranking"][0]]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(params.report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(params.report.title)}</h1>",
        f"<p>Git commit <code>{escape(str(run0.get('git_commit')))}</code>, seed {escape(str(run0.get('seed')))}. "
        f"{s['documents']} documents, vocabulary {s['vocab_size']} (train split only).</p>",
        "<h2>Ranking (test split)</h2>",
        _html_table(rank_header(data), ranking_rows(data), highlight_first=True, cls="rank"),
        "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in significance_lines(data)) + "</ul>",
    ]
    if data.get("registry"):
        parts += ["<h2>Registered model</h2>", "<ul>"]
        parts += [f"<li>{escape(line.replace('`', '').replace('**', ''))}</li>" for line in registry_lines(data)]
        parts += ["</ul>"]
    parts += [
        "<h2>Accuracy against cost</h2>",
        figs.html("cost", "test macro-F1 against parameters and CPU latency, Pareto front"),
        "<h2>Learning curves</h2>",
        figs.html("curves", "validation macro-F1 per epoch"),
        "<h2>Data</h2>",
        _html_table(*data_rows(s)),
        "<h3>Classes</h3>",
        _html_table(["id", "label", "scores"], class_rows(s)),
        "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in quality_lines(s)) + "</ul>",
        "<h2>Confusion matrices, precision-recall curves, calibration</h2>",
        figs.html("confusion", "confusion matrices"),
        figs.html("pr", "precision-recall curves"),
        figs.html("calibration", "reliability diagram"),
        "<h2>Per-class results</h2>",
    ]
    for arch in data["ranking"]:
        ev = data["evals"][arch]
        parts += [
            f'<h3 id="{escape(arch)}">{escape(arch)}</h3>',
            _html_table(PER_CLASS_HEADER, per_class_rows(ev)),
            _html_table(*confusion_rows(ev)),
        ]
        if ev.get("examples"):
            ex_rows = "".join(
                f"<tr>{_rtl(e['text'])}<td>{escape(e['true'])}</td>"
                f'<td>{escape(e["pred"])}</td><td class="num">{e["confidence"]:.2f}</td></tr>'
                for e in ev["examples"]
            )
            parts.append(
                "<details><summary>Test examples</summary><table><thead><tr><th>text</th><th>true</th>"
                f"<th>predicted</th><th>confidence</th></tr></thead><tbody>{ex_rows}</tbody></table></details>"
            )
    parts += ["<h2>Error analysis: the most confidently wrong test documents</h2>"]
    for i, arch in enumerate(data["ranking"]):
        errs = _errors(data["evals"][arch])
        if errs:
            rows = "".join(
                f'<tr><td>{escape(e["true"])}</td><td>{escape(e["pred"])}</td><td class="num">{e["confidence"]:.2f}'
                f"</td>{_rtl(e['text'])}</tr>"
                for e in errs
            )
            parts.append(
                f"<details{' open' if i == 0 else ''}><summary>{escape(arch)}</summary><table><thead><tr>"
                f"<th>true</th><th>predicted</th><th>confidence</th><th>text</th></tr></thead><tbody>{rows}"
                "</tbody></table></details>"
            )
    parts += interpretability_html(data, figs) + tuning_html(data, figs) + generation_html(data)
    parts += [
        "<h2>Provenance</h2>",
        _html_table(PROVENANCE_HEADER, provenance_rows(data)),
        "<h2>Params (as recorded by the best model's training run)</h2>",
        _html_table(["key", "value"], params_rows(data)),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def interpretability_html(data: dict[str, Any], figs: Figures) -> list[str]:
    explained = [a for a in data["ranking"] if data["evals"][a].get("explanations")]
    if not explained:
        return []
    parts = [
        "<h2>Interpretability</h2>",
        '<p class="note">The same test documents for every model, as preprocessed tokens. Attention: orange '
        "intensity is the weight; integrated gradients: green pushes towards the predicted class, red against "
        "(hover a token for its score).</p>",
    ]
    for i, arch in enumerate(explained):
        ev = data["evals"][arch]
        body = []
        for e in ev["explanations"]:
            body.append(
                f"<p>true <b>{escape(e['true'])}</b>, predicted <b>{escape(e['pred'])}</b> "
                f"({escape(e['method'].replace('_', ' '))})</p>{token_spans(e)}"
            )
        body.append(figs.html(f"explain-{arch}", f"token scores, {arch}") if i == 0 else "")
        parts.append(f"<details{' open' if i == 0 else ''}><summary>{escape(arch)}</summary>{''.join(body)}</details>")
    return parts


def tuning_html(data: dict[str, Any], figs: Figures) -> list[str]:
    if not data["tuning"]:
        return []
    parts = ["<h2>Tuning</h2>"]
    for arch, study in data["tuning"].items():
        best = study.get("best") or {}
        parts += [
            f"<h3>{escape(arch)}</h3>",
            f"<p>Study <code>{escape(str(study.get('study_name')))}</code>: "
            f"{escape(str(study.get('n_trials')))} trials {escape(str(study.get('states', {})))}, best value "
            f"{escape(_fmt(best.get('value')))} (trial {escape(str(best.get('number')))}), MLflow parent run "
            f"{escape(str(study.get('mlflow_parent_run_id')))}.</p>",
            figs.html(f"tuning-{arch}", f"tuning history, {arch}"),
            _html_table(["param", "best value"], [[k, _fmt(v)] for k, v in (best.get("params") or {}).items()]),
        ]
    return parts


def generation_html(data: dict[str, Any]) -> list[str]:
    gen, samples = data.get("generation"), data.get("samples")
    if not gen and not samples:
        return []
    parts = ["<h2>Text generation</h2>"]
    if gen:
        parts.append(_html_table(*generation_rows(gen)))
        line = agreement_line(gen)
        if line:
            parts.append(f"<p>{escape(line)}</p>")
    if samples:
        rows = "".join(
            f"<tr><td>{escape(str(x.get('model')))}</td><td>{escape(str(x.get('topic')))}</td>"
            f"<td>{escape(_decoding(x.get('decoding')))}</td>{_rtl(str(x.get('text')))}</tr>"
            for x in samples
        )
        parts.append(
            "<details open><summary>Samples</summary><table><thead><tr><th>model</th><th>topic</th><th>decoding</th>"
            f"<th>text</th></tr></thead><tbody>{rows}</tbody></table></details>"
        )
    return parts


def report(params: Params) -> None:
    data = collect(params)
    out = Path(params.base.reports_dir)
    figs = make_figures(data, out / "figures")
    (out / "report.md").write_text(render_markdown(params, data, figs), encoding="utf-8")
    (out / "report.html").write_text(render_html(params, data, figs), encoding="utf-8")
    log.info("wrote %s and %s (%d figures)", out / "report.md", out / "report.html", len(figs.png))


def main() -> None:
    cli.parser(__doc__).parse_args()
    report(load_params())


if __name__ == "__main__":
    cli.run(main)
