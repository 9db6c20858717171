"""``python -m pipeline ui [--host H] [--port N] [--model URI|FOLDER]``: the demo UI (Streamlit) in a browser.

Three tabs: classify a right-to-left text (the predicted class, a probability bar chart, the tokens coloured by
their attribution), generate a text (prompt, class, temperature) with the trained language models, and the model
card (version, test macro-F1 with its interval, the data's date). The model is the one ``python -m pipeline serve``
answers with (``--model`` or ``serve.model``, else ``models:/<registry.model_name>@<registry.alias>``), loaded once
by the same code (:func:`~pipeline.serving.loading.load_served`, :class:`~pipeline.serving.generation.Generator`);
a bad ``--model`` is a one-line error before the port opens. The page itself is ``ui_app.py``.
"""

from __future__ import annotations

import html
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import cli
from pipeline.config import Params, load_params
from pipeline.serving.generation import Generator
from pipeline.serving.loading import ServedModel, load_served

APP = Path(__file__).with_name("ui_app.py")
MODEL_ENV = "PIPELINE_UI_MODEL"  # the page reads the model spec from here (set by main, or by a test)
DEFAULT_PORT = 8501


@dataclass
class Resources:
    """What every browser session shares: the params, the classifier, the language models, the model card."""

    params: Params
    model: ServedModel
    generator: Generator
    card: list[tuple[str, str]]
    explain_lock: threading.Lock = field(default_factory=threading.Lock)
    generate_lock: threading.Lock = field(default_factory=threading.Lock)


_LOADED: dict[tuple[str, str], Resources] = {}
_LOAD_LOCK = threading.Lock()


def resources(spec: str | None = None) -> Resources:
    """The resources for ``spec`` (default ``$PIPELINE_UI_MODEL``, else ``serve.model``), loaded once per process
    and project folder."""
    params = load_params()
    spec = os.environ.get(MODEL_ENV, params.serve.model) if spec is None else spec
    key = (os.getcwd(), spec)
    with _LOAD_LOCK:
        if key not in _LOADED:
            model = load_served(spec, params)
            _LOADED[key] = Resources(params, model, Generator(params), model_card(params, model))
        return _LOADED[key]


def model_card(params: Params, model: ServedModel) -> list[tuple[str, str]]:
    """``(field, value)`` rows: the registry's version and tags for a registered model, else the evaluation report
    of its architecture; the data's date from the scraped documents."""
    arch = model.predictor.arch
    rows = [("Model", model.name), ("Version", model.version), ("Architecture", arch)]
    metrics = _registry_tags(params, model) if model.version != "folder" else {}
    source = f"MLflow registry, version {model.version}"
    if "test/f1_macro" not in metrics:
        metrics, source = _eval_metrics(params, arch), f"{params.base.reports_dir}/eval/{arch}.json"
    level = f"{params.evaluate.confidence_level:.0%}"
    if "test/f1_macro" in metrics:
        f1 = f"{float(metrics['test/f1_macro']):.4f}"
        if "test/f1_macro_ci_low" in metrics:
            low, high = float(metrics["test/f1_macro_ci_low"]), float(metrics["test/f1_macro_ci_high"])
            f1 += f" ({level} CI {low:.4f}–{high:.4f})"
        rows.append(("Test macro-F1", f1))
    if "test/accuracy" in metrics:
        rows.append(("Test accuracy", f"{float(metrics['test/accuracy']):.4f}"))
    if "test/f1_macro" not in metrics:
        source = "none found (run `dvc repro evaluate register`)"
    rows += [("Metrics from", source), ("Data date", data_date(params)), ("Classes", ", ".join(model.labels))]
    return rows


def _registry_tags(params: Params, model: ServedModel) -> dict[str, str]:
    import mlflow

    try:
        return dict(mlflow.MlflowClient().get_model_version(model.name, model.version).tags)
    except Exception:  # a store without the version (e.g. copied models): fall back to the evaluation report
        return {}


def _eval_metrics(params: Params, arch: str) -> dict[str, float]:
    path = Path(params.base.reports_dir) / "eval" / f"{arch}.json"
    if not path.is_file():
        return {}
    ev = json.loads(path.read_text(encoding="utf-8"))
    out = {"test/f1_macro": ev["f1_macro"], "test/accuracy": ev["accuracy"]}
    ci = (ev.get("ci") or {}).get("f1_macro")
    if ci:
        out.update({"test/f1_macro_ci_low": ci["low"], "test/f1_macro_ci_high": ci["high"]})
    return out


def data_date(params: Params) -> str:
    """When the data was scraped (the scrape's run log, :mod:`pipeline.runlog`), else the range of the scraped
    reviews' ``date_published``, else the date the splits were written (``<processed_dir>/summary.json``)."""
    from pipeline import runlog

    raw = Path(params.base.raw_dir) / "docs.jsonl"
    crawled = runlog.read(raw).get("crawled")
    if crawled:
        return f"scraped {str(crawled)[:10]}"
    dates = []
    if raw.is_file():
        with raw.open(encoding="utf-8") as f:
            for line in f:
                published = json.loads(line).get("date_published") if line.strip() else None
                if published:
                    dates.append(str(published)[:10])
    if dates:
        first, last = min(dates), max(dates)
        return f"reviews published {first}" if first == last else f"reviews published {first} to {last}"
    summary = Path(params.base.processed_dir) / "summary.json"
    if summary.is_file():
        from datetime import UTC, datetime

        return "splits written " + datetime.fromtimestamp(summary.stat().st_mtime, UTC).strftime("%Y-%m-%d")
    return "unknown"


def attribution_html(tokens: list[str], scores: list[float]) -> str:
    """The tokens right to left, each on a background as strong as its score (green: for the predicted class,
    red: against it), its score in the tooltip. Tokens are escaped."""
    top = max((abs(s) for s in scores), default=0.0) or 1.0
    spans = []
    for token, score in zip(tokens, scores, strict=True):
        alpha = abs(score) / top
        colour = f"rgba(34, 139, 34, {alpha:.2f})" if score >= 0 else f"rgba(220, 20, 60, {alpha:.2f})"
        spans.append(
            f'<span class="token" style="background:{colour}" title="{score:+.4f}">{html.escape(token)}</span>'
        )
    return f'<div class="rtl attributions" dir="rtl">{" ".join(spans)}</div>'


def main() -> None:
    args = cli.parser(__doc__)
    args.add_argument("--host", help="interface (default: serve.host)")
    args.add_argument("--port", type=int, help=f"TCP port (default: {DEFAULT_PORT})")
    args.add_argument("--model", help="models:/ URI or model folder (default: serve.model, else the registry alias)")
    ns = args.parse_args()
    params = load_params()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from pipeline.runtime import apply_thread_policy

    apply_thread_policy()
    spec = ns.model if ns.model is not None else params.serve.model
    resources(spec)  # before the port opens: a bad --model is a one-line error, exit 2
    os.environ[MODEL_ENV] = spec
    from streamlit.web import bootstrap

    flags = {
        "server.address": ns.host or params.serve.host,
        "server.port": ns.port if ns.port is not None else DEFAULT_PORT,
        "server.headless": True,
        "server.fileWatcherType": "none",
        "browser.gatherUsageStats": False,
        "global.developmentMode": False,
        "client.toolbarMode": "viewer",  # no "Deploy" button
    }
    bootstrap.load_config_options(flag_options=flags)
    bootstrap.run(str(APP), False, [], flags)
