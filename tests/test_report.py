"""The report stage on hand-written saved files (no training): scraped markup escaped in both outputs, figures
drawn once and shared, the Markdown escape rules, the run-record reader."""

import base64
import json
import re

import pytest

from tests.report_inputs import write_report_inputs

EVIL = "<script>alert(1)</script> نص | عمود\nسطر"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


@pytest.fixture
def reported(workdir):
    from pipeline.config import load_params
    from pipeline.stages.report import report

    write_report_inputs(workdir, EVIL, title="Reviews <script>alert(1)</script> | 2024")
    report(load_params())
    reports = workdir / "reports"
    return reports, (reports / "report.md").read_text(encoding="utf-8"), (reports / "report.html").read_text("utf-8")


def test_scraped_markup_is_escaped_in_markdown_and_html(reported):
    _, md, html = reported
    for out in (md, html):
        assert "<script" not in out
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    # Markdown: the title, both models' confident errors, the generated sample; the HTML also has the title
    # in <title>, both models' test examples and the explained token
    assert md.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 4
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 8
    # a pipe or a line break in scraped text stays inside its Markdown table cell
    rows = [line for line in md.splitlines() if "alert(1)" in line and line.startswith("|")]
    assert len(rows) == 3
    for row in rows:
        assert len(UNESCAPED_PIPE.findall(row)) == 5, row  # four columns
        assert "نص \\| عمود سطر" in row
    assert md.startswith("# Reviews &lt;script&gt;alert(1)&lt;/script&gt; \\| 2024\n")
    assert '<td class="rtl" dir="rtl" lang="ar"><bdi>&lt;script&gt;' in html


def test_figures_are_drawn_once_and_shared_by_both_outputs(reported):
    reports, md, html = reported
    names = sorted(p.stem for p in (reports / "figures").glob("*.png"))
    assert names == ["calibration", "confusion", "cost", "curves", "explain-lstm", "loss", "pr", "tuning-lstm"]
    for name in names:
        png = (reports / "figures" / f"{name}.png").read_bytes()
        assert f"](figures/{name}.png)" in md
        assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in html
    assert 'src="http' not in html and "<link" not in html


def test_every_section_is_in_both_outputs(reported):
    _, md, html = reported
    headings = ["Ranking (test split)", "Registered model", "Accuracy against cost", "Learning curves", "Data"]
    headings += ["Per-class results", "Error analysis", "Tuning", "Text generation", "Provenance", "Params"]
    for heading in headings:
        assert f"## {heading}" in md and f"<h2>{heading}" in html
    assert "test macro-F1 [90% CI]" in md and "test macro-F1 [90% CI]" in html  # the recorded level
    assert "| 1 | lstm | recurrent | 0.6000 [0.300, 0.900] | +0.2667 | 0.6000 [0.200, 0.800] |" in md
    assert '<tr class="best"><td class="num">1</td><td>lstm</td>' in html
    assert '`mlflow.pyfunc.load_model("models:/arabic-reviews-classifier@champion")`' in md
    assert "<code>mlflow.pyfunc.load_model(&#34;models:/arabic-reviews-classifier@champion&#34;)</code>" in html
    assert "Interpretability" in html and html.count('class="tok"') == 3
    assert "Class agreement" in md and "Class agreement" in html
    # the language models' metrics; their throughput and MLflow runs are facts of a run, not in the report
    assert "| dataset | model | perplexity | bleu |" in md and "| demo | gpt2 | 123.5 | 1.5 |" in md
    assert "run-gpt2" not in md and "4322" not in md


def test_markdown_escape_rules():
    from pipeline.reporting.render import md_code, md_escape

    assert md_escape("a <b> & c") == "a &lt;b&gt; &amp; c"
    assert md_escape("x | y\r\nz\nw") == "x \\| y z w"
    assert md_escape(0.5) == "0.5"
    assert md_code("a<b>") == "`a<b>`"  # a code span shows its text literally: no entities
    assert md_code("a `b` c") == "`` a `b` c ``"


def test_run_records_are_read_typed_and_refused_when_invalid(tmp_path):
    from pipeline.data.jsonl import DataError
    from pipeline.training.run_record import RunRecord

    (tmp_path / "run.json").write_text(json.dumps({"arch": "gru"}), encoding="utf-8")
    with pytest.raises(DataError, match=r"run\.json: invalid run record at stage: Field required"):
        RunRecord.load(tmp_path)
    with pytest.raises(DataError, match="no run record"):
        RunRecord.load(tmp_path / "nothing")


def test_gate_decision_and_data_checks_are_reported(workdir):
    from pipeline.config import load_params
    from pipeline.stages.report import report

    write_report_inputs(workdir, "نص")
    reg_path, sum_path = workdir / "reports" / "registry.json", workdir / "data" / "processed" / "summary.json"
    comparison = {"b": 1, "c": 9, "p_value": 0.0215, "method": "exact binomial", "verdict": "worse", "documents": 40,
                  "champion_f1_macro": 0.81, "challenger_f1_macro": 0.62}  # fmt: skip
    gate = {"decision": "kept", "reason": "challenger lstm macro-F1 0.6200 vs champion version 1 0.8100: worse",
            "champion_version": "1", "challenger_version": "2", "alias_version": "1",
            "figures": {"comparison": comparison}}  # fmt: skip
    reg_path.write_text(json.dumps({**json.loads(reg_path.read_text()), "version": "2", **gate}), encoding="utf-8")
    checks = {"passed": True, "checks": {
        "min_arabic_share": {"passed": True, "value": 0.97, "limit": 0.5, "message": "..."},
        "max_label_drift": {"passed": True, "value": 0.12, "limit": 1.0, "message": "class shares drifted by 0.1200"},
    }}  # fmt: skip
    summary = {**json.loads(sum_path.read_text()), "checks": checks, "label_distribution": {"negative": 0.5}}
    sum_path.write_text(json.dumps(summary), encoding="utf-8")
    report(load_params())
    md = (workdir / "reports" / "report.md").read_text(encoding="utf-8")
    html = (workdir / "reports" / "report.html").read_text(encoding="utf-8")
    for out in (md, html):
        assert "Champion/challenger gate:" in out and "kept" in out
        assert "challenger version 2, champion before: 1;" in out and "now points to version 1" in out
        assert "champion 0.8100; McNemar (exact binomial) p = 0.0215, verdict worse" in out
        assert "Data checks passed: min_arabic_share 0.97 (limit 0.5)" in out
        assert "label drift: class shares drifted by 0.1200" in out


def test_the_ranking_ends_with_the_majority_class_baseline(reported):
    _, md, html = reported
    assert "| – | majority class (baseline) | constant | 0.3333 | – | 0.1667 |" in md  # three balanced test classes
    assert "majority class (baseline)" in html
    # beside every model: its test accuracy minus the majority class's
    rows = [line.split(" | ") for line in md.splitlines() if line.startswith(("| 1 | lstm |", "| 2 | tfidf_linear |"))]
    assert len(rows) == 2
    for cells in rows:
        accuracy, versus = float(cells[3].split()[0]), float(cells[4])
        assert versus == pytest.approx(accuracy - 1 / 3, abs=1e-4)


def test_majority_baseline_figures_equal_scikit_learn_on_a_constant_prediction():
    from sklearn.metrics import accuracy_score, f1_score

    from pipeline.reporting.tables import majority_baseline

    confusion = [[7, 1, 0, 2], [3, 30, 4, 3], [0, 2, 5, 1], [1, 0, 0, 1]]  # rows: true classes; support 10/40/8/2
    truth = [k for k, row in enumerate(confusion) for _ in range(sum(row))]
    constant = [1] * len(truth)
    accuracy, f1 = majority_baseline(confusion)
    assert accuracy == pytest.approx(accuracy_score(truth, constant))
    assert f1 == pytest.approx(f1_score(truth, constant, average="macro", zero_division=0))


def test_the_export_stage_and_its_benchmark_are_one_table_in_both_outputs(workdir):
    from pipeline.config import load_params
    from pipeline.stages.report import report

    write_report_inputs(workdir, "نص")
    reports = workdir / "reports"
    report(load_params())
    assert "Export and quantisation" not in (reports / "report.md").read_text(encoding="utf-8")  # no export
    stage = [
        {"arch": "lstm", "runtime": "onnx-fp32", "macro_f1": 0.4317, "size_mb": 0.271, "max_abs_diff": 1e-6},
        {"arch": "lstm", "runtime": "onnx-int8", "macro_f1": 0.4317, "size_mb": 0.078, "same_as_fp32": 0.9871},
    ]
    (workdir / "models" / "export").mkdir(parents=True)
    (workdir / "models" / "export" / "export.json").write_text(json.dumps(stage), encoding="utf-8")
    report(load_params())
    md = (reports / "report.md").read_text(encoding="utf-8")
    assert "| lstm | onnx-int8 | 0.4317 | 0.9871 | 0.078 | – | – |" in md  # no benchmark yet: no latency
    timed = [{**stage[1], "p50_ms_b1": 0.178, "p50_ms_b32": 40.2}, {**stage[0], "runtime": "torch-int8"}]
    (reports / "bench").mkdir()
    (reports / "bench" / "export.json").write_text(json.dumps(timed), encoding="utf-8")
    report(load_params())
    md, html = (reports / "report.md").read_text(encoding="utf-8"), (reports / "report.html").read_text("utf-8")
    assert "## Export and quantisation" in md and "<h2>Export and quantisation</h2>" in html
    assert "| lstm | onnx-int8 | 0.4317 | 0.9871 | 0.078 | 0.178 | 40.2 |" in md  # the stage's rows, bench's latency
    assert "| lstm | onnx-fp32 | 0.4317 | – | 0.271 | – | – |" in md and "torch-int8" not in md
    assert "<td>onnx-fp32</td>" in html and "bench/bench_export.py" in md
