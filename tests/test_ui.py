"""The demo UI (``python -m pipeline ui``) on a tiny registered model: Streamlit's headless ``AppTest`` for every tab,
and once a real headless Chromium (Debian's ``chromium``, driven by Playwright) against the real server."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.serving.generation import Generator
from pipeline.serving.predict import load_predictor
from pipeline.serving.registration import register
from pipeline.serving.ui import MODEL_ENV, attribution_html, data_date
from pipeline.stages.evaluate import evaluate
from pipeline.stages.lm_tokenizer import build_tokenizer
from pipeline.stages.train import train
from pipeline.stages.train_lm import train_lm
from tests.conftest import preprocessed_project
from tests.serve_helpers import REPO, free_port, start
from tests.test_serve import ARCHS, OVERRIDES, offline_labels, split_rows

APP = REPO / "pipeline" / "serving" / "ui_app.py"
CHROMIUM = Path("/usr/bin/chromium")
TEXT = "هذا المكان رائع وممتاز والخدمة جيدة"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Train two classifiers and a language model, evaluate, register (the champion under the registry alias)."""
    root = tmp_path_factory.mktemp("ui")
    with preprocessed_project(root, OVERRIDES, 132) as params:
        for arch in ARCHS:
            train(params, arch)
        evaluate(params)
        registered = register(params)
        build_tokenizer(params)
        train_lm(params, "lstm_lm")
    return root, params, registered


@pytest.fixture
def app(project, monkeypatch):
    """A function giving a fresh ``AppTest`` of the page on ``spec`` (the champion by default), run once."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.chdir(project[0])

    def run(spec: str = "") -> AppTest:
        monkeypatch.setenv(MODEL_ENV, spec)
        at = AppTest.from_file(APP, default_timeout=300)
        at.run()
        assert not at.exception, at.exception
        return at

    return run


def classify(at, text: str):
    at.text_area(key="text").input(text)
    at.button(key="classify_submit").click()
    at.run()
    assert not at.exception, at.exception
    return at


def test_classify_shows_the_offline_label_and_every_class_probability(project, app):
    root, _, registered = project
    row = split_rows(root)[0]
    at = classify(app(), row["text"])
    assert at.metric[0].label == "Predicted class"
    assert at.metric[0].value == offline_labels(root, registered["arch"], [row])[0]
    (chart,) = at.get("vega_lite_chart")  # the probability bar chart: one bar per class
    assert json.loads(chart.proto.spec)["mark"]["type"] == "bar"
    (data,) = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets]
    probs = load_predictor(root / "models" / registered["arch"], root / "data/processed").predict_proba([row])[0]
    labels = json.loads((root / "data/processed/classes.json").read_text(encoding="utf-8"))["labels"]
    assert list(data.iloc[:, 0]) == labels and data["probability"].tolist() == pytest.approx(probs, abs=1e-6)
    assert at.text_area(key="text").value == row["text"]


def test_attributions_highlight_every_token_of_the_explanation(project, app):
    from pipeline.serving.loading import load_served

    at = classify(app("models/gru"), TEXT)
    expected = load_served("models/gru", project[1]).explain(TEXT)
    shown = next(m.value for m in at.markdown if m.value.startswith('<div class="rtl attributions"'))
    assert shown == attribution_html(expected["tokens"], expected["scores"])
    assert shown.count('class="token"') == len(expected["tokens"]) > 0
    assert at.metric[0].value == expected["label"]
    card = dict(at.table[0].value["value"].items())  # a folder model: the card comes from its evaluation report
    ev = json.loads((project[0] / "reports/eval/gru.json").read_text(encoding="utf-8"))
    assert card["Version"] == "folder" and card["Metrics from"] == "reports/eval/gru.json"
    assert card["Test macro-F1"].startswith(f"{ev['f1_macro']:.4f} (95% CI {ev['ci']['f1_macro']['low']:.4f}–")


def test_a_model_without_explanations_says_so(project, app):
    at = classify(app("models/tfidf_linear"), TEXT)
    assert "tfidf_linear models have no token explanations" in at.info[0].value


@pytest.mark.parametrize("text, kind, named", [("", "warning", "Type a text"), ("ج" * 301, "error", "serve.max_chars")])
def test_empty_and_too_long_texts_are_named(app, text, kind, named):
    at = classify(app(), text)
    assert named in getattr(at, kind)[0].value and not at.metric


def test_generate_continues_the_prompt_as_the_api_does_and_keeps_the_classification(project, app):
    at = classify(app(), TEXT)
    label = at.metric[0].value
    at.text_input(key="prompt").input("هذا المكان")
    at.selectbox(key="label").select("positive")
    at.slider(key="temperature").set_value(0.7)
    at.number_input(key="new_tokens").set_value(6)
    at.number_input(key="seed").set_value(3)
    at.button(key="generate_submit").click()
    at.run()
    assert not at.exception, at.exception
    generator = Generator(project[1])
    expected = generator.generate("هذا المكان", None, "positive", generator.decoding(None, temperature=0.7), 6, 3)
    shown = next(m.value for m in at.markdown if m.value.startswith('<div class="rtl generated"'))
    assert shown == f'<div class="rtl generated" dir="rtl">{html.escape(expected["text"])}</div>'
    assert expected["new_tokens"] > 0 and expected["text"].startswith("هذا المكان")
    assert at.metric[0].value == label  # the other tab's answer stays


def test_model_card_shows_the_registered_version_and_macro_f1_interval(project, app):
    _, _, registered = project
    card = dict(app().table[0].value["value"].items())
    assert card["Version"] == registered["version"] == registered["alias_version"]
    m = registered["metrics"]
    f1, low, high = m["test/f1_macro"], m["test/f1_macro_ci_low"], m["test/f1_macro_ci_high"]
    assert card["Test macro-F1"] == f"{f1:.4f} (95% CI {low:.4f}–{high:.4f})"
    assert card["Metrics from"].startswith("MLflow registry") and card["Data date"].startswith("splits written ")


def test_data_date_is_the_crawl_date_else_the_range_of_publication_dates(workdir):
    from pipeline import runlog
    from pipeline.config import load_params

    raw = workdir / "data/raw"
    raw.mkdir(parents=True)
    docs = [{"date_published": "2026-11-02"}, {"date_published": "2026-11-30T08:00:00+00:00"}, {}]
    (raw / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    assert data_date(load_params()) == "reviews published 2026-11-02 to 2026-11-30"
    runlog.write(raw / "docs.jsonl", {"crawled": "2026-12-01T10:00:00+00:00"})
    assert data_date(load_params()) == "scraped 2026-12-01"


def test_attribution_html_escapes_tokens_and_scales_colours():
    out = attribution_html(["<b>", "جيد"], [-0.5, 1.0])
    assert "&lt;b&gt;" in out and "<b>" not in out
    assert "rgba(220, 20, 60, 0.50)" in out and "rgba(34, 139, 34, 1.00)" in out and 'dir="rtl"' in out


def test_a_bad_model_is_a_one_line_error(project):
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "ui", "--model", "models/nope", "--port", str(free_port())],
        cwd=project[0], capture_output=True, text=True, timeout=300, env={**_env(), "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "models/nope is not a model folder" in lines[0], proc.stderr


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


@pytest.mark.slow
def test_a_real_browser_classifies_an_arabic_text(project, tmp_path):
    """``python -m pipeline ui`` in a subprocess; headless Chromium types a test text, submits, waits for the
    label (the offline prediction), and saves screenshots (the result, the model card) into ``tmp_path``."""
    if not CHROMIUM.is_file():
        pytest.skip("no /usr/bin/chromium (Debian's chromium package; `make setup-services` installs it)")
    from playwright.sync_api import sync_playwright

    root = project[0]
    row = next(r for r in split_rows(root) if len(r["text"]) < 200)
    expected = offline_labels(root, "gru", [row])[0]
    port = free_port()
    args = ["-m", "pipeline", "ui", "--port", str(port), "--model", "models/gru"]
    server = start(args, root, tmp_path / "ui.log", port)
    try:
        server.wait("/_stcore/health", timeout=300)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 900, "height": 1100}, locale="ar")
            outside: list[str] = []  # anything the page asks of another host is refused and recorded

            def refuse(route) -> None:
                outside.append(route.request.url)
                route.abort()

            page.route(re.compile(r"^(?!(https?|wss?)://127\.0\.0\.1[:/]|data:|blob:)"), refuse)
            page.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
            box = page.get_by_label("Review (Arabic, right to left)")
            box.wait_for(timeout=120_000)
            assert box.evaluate("e => getComputedStyle(e).direction") == "rtl"
            box.fill(row["text"])
            start_s = time.perf_counter()
            page.get_by_role("button", name="Classify").click()
            label = page.get_by_test_id("stMetricValue").first
            label.wait_for(timeout=120_000)
            print(f"label shown {time.perf_counter() - start_s:.2f} s after the click")
            assert label.inner_text().strip() == expected
            page.locator(".attributions").wait_for(timeout=60_000)
            page.wait_for_timeout(1500)  # the bar chart's drawing
            page.screenshot(path=str(tmp_path / "screenshot.png"), full_page=True)
            page.get_by_role("tab", name="Model card").click()
            page.get_by_text("Test macro-F1").wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "model_card.png"), full_page=True)
            browser.close()
        assert not outside, f"the page asked for other hosts: {outside[:5]}"
    finally:
        server.stop()
    assert (tmp_path / "screenshot.png").stat().st_size > 10_000 and (tmp_path / "model_card.png").is_file()
