"""The evaluate, register and report stages on tiny trained models: intervals, calibration, McNemar,
confident errors, explanations, seeds, the registered pyfunc model loaded by name, the report."""

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline import runlog
from pipeline.evaluation.errors import choose_documents, confident_errors
from pipeline.serving.registration import register
from pipeline.stages.evaluate import evaluate
from pipeline.stages.train import train
from tests.conftest import preprocessed_project

ARCHS = ["lstm", "gru", "tfidf_linear"]
OVERRIDES = {
    "train.architectures": ARCHS,
    "train.max_epochs": 4,
    "train.patience": 4,
    "train.lr": 0.01,
    "train.hidden_dim": 16,
    "train.embedding_dim": 16,
    "train.batch_size": 16,
    "train.pooling": "attention",
    "preprocess.min_token_freq": 1,
    "evaluate.bootstrap_resamples": 200,
    "evaluate.explain_documents": 2,
    "evaluate.ig_steps": 16,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluation")
    with preprocessed_project(root, OVERRIDES, 132) as params:
        for arch in ARCHS:
            seeded = params
            if arch == "gru":  # the primary model (seed 42) and one more seed in models/gru/seeds/7/
                seeded = params.model_copy(update={"train": params.train.model_copy(update={"seeds": [42, 7]})})
            train(seeded, arch)
        headline = evaluate(params)
        registered = register(params)
        yield root, params, headline, registered


def _eval(root, arch):
    return json.loads((root / "reports" / "eval" / f"{arch}.json").read_text(encoding="utf-8"))


def test_eval_files_hold_intervals_calibration_and_pr_curves(project):
    root, _, headline, _ = project
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert metrics == headline and set(metrics) == set(ARCHS)
    assert all(set(m) == {"accuracy", "f1_macro"} for m in metrics.values())  # dvc exp show stays small
    for arch in ARCHS:
        ev = _eval(root, arch)
        for key in ("accuracy", "f1_macro"):
            assert ev["ci"][key]["low"] <= ev[key] <= ev["ci"][key]["high"], (arch, key, ev["ci"])
        assert 0 <= ev["f1_weighted"] <= 1 and 0 <= ev["calibration"]["ece"] <= 1
        assert sum(b["count"] for b in ev["calibration"]["bins"]) == ev["test_documents"]
        for label, curve in ev["pr_curves"].items():
            assert curve["recall"][0] == 1.0 and len(curve["recall"]) == len(curve["precision"])
            rows = (root / "reports" / "plots" / "pr" / arch / f"{label}.csv").read_text().splitlines()
            assert rows[0] == "recall,precision" and len(rows) == len(curve["recall"]) + 1


def test_significance_compares_the_best_with_every_other_model(project):
    root, _, headline, _ = project
    sig = json.loads((root / "reports" / "eval" / "significance.json").read_text())
    best = sorted(headline, key=lambda a: (-headline[a]["f1_macro"], -headline[a]["accuracy"], a))[0]
    assert sig["best"] == best and set(sig["comparisons"]) == set(ARCHS) - {best}
    for arch, c in sig["comparisons"].items():
        assert 0 <= c["p_value"] <= c["p_holm"] <= 1
        assert c["significant"] == (c["p_holm"] < sig["alpha"])
        assert _eval(root, arch)["significance"] == c
        # the discordant counts are the accuracy difference in documents
        n = _eval(root, arch)["test_documents"]
        diff = round((_eval(root, best)["accuracy"] - _eval(root, arch)["accuracy"]) * n)
        assert c["best_only_right"] - c["other_only_right"] == diff
    assert _eval(root, best)["significance"] is None


def test_confident_errors_are_wrong_and_sorted(project):
    root, _, _, _ = project
    for arch in ARCHS:
        ev = _eval(root, arch)
        for label, errors in ev["confident_errors"].items():
            assert len(errors) <= 3
            assert all(e["true"] == label and e["pred"] != label and e["text"] for e in errors)
            confs = [e["confidence"] for e in errors]
            assert confs == sorted(confs, reverse=True)


def test_confident_errors_unit():
    rows = [{"id": str(i), "label": y, "text": f"t{i}"} for i, y in enumerate([0, 0, 0, 1])]
    probs = [[0.1, 0.9], [0.3, 0.7], [0.8, 0.2], [0.6, 0.4]]
    out = confident_errors(rows, [1, 1, 0, 0], probs, ["a", "b"], k=1)
    assert [e["id"] for e in out["a"]] == ["0"] and [e["id"] for e in out["b"]] == ["3"]
    docs = choose_documents([{"id": str(i), "label": i % 2, "tokens": ["w"] * (5 + i)} for i in range(6)], 3)
    assert [d["id"] for d in docs] == ["0", "1", "2"]


def test_explanations_for_every_network_on_the_same_documents(project):
    root, _, _, _ = project
    lstm, gru, base = _eval(root, "lstm"), _eval(root, "gru"), _eval(root, "tfidf_linear")
    assert len(lstm["explanations"]) == 2 and base["explanations"] == []  # the baseline has no explain()
    assert [e["id"] for e in lstm["explanations"]] == [e["id"] for e in gru["explanations"]]
    for e in lstm["explanations"] + gru["explanations"]:
        assert e["method"] == "attention" and len(e["tokens"]) == len(e["scores"]) >= 5  # attention pooling
        assert sum(e["scores"]) == pytest.approx(1.0, abs=1e-3)


def test_seed_models_are_evaluated_with_mean_and_std(project):
    root, _, headline, _ = project
    gru = _eval(root, "gru")
    assert [s["seed"] for s in gru["seeds"]] == [42, 7]
    assert gru["seeds"][0]["f1_macro"] == headline["gru"]["f1_macro"]
    values = [s["f1_macro"] for s in gru["seeds"]]
    assert gru["seed_mean"]["f1_macro"] == pytest.approx(sum(values) / 2, abs=1e-4)
    assert gru["seed_std"]["f1_macro"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5, abs=1e-4)
    assert len(_eval(root, "lstm")["seeds"]) == 1 and _eval(root, "lstm")["seed_std"]["f1_macro"] == 0


def test_mlflow_runs_get_test_metrics_with_intervals(project):
    root = project[0]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    gru = _eval(root, "gru")
    facts = runlog.read(root / "reports" / "eval" / "gru.json")  # the runs' ids: in the run log, not the file
    assert "mlflow_run_id" not in gru and all("mlflow_run_id" not in s for s in gru["seeds"])
    assert len(facts["seed_mlflow_run_ids"]) == len(gru["seeds"]) == 2
    for s, run_id in zip(gru["seeds"], facts["seed_mlflow_run_ids"], strict=True):
        run = client.get_run(run_id)
        assert run.data.metrics["test/f1_macro"] == pytest.approx(s["f1_macro"])
    primary = client.get_run(facts["mlflow_run_id"]).data.metrics
    assert primary["test/f1_macro_ci_low"] <= primary["test/f1_macro"] <= primary["test/f1_macro_ci_high"]
    assert primary["test/ece"] == pytest.approx(gru["calibration"]["ece"])


def test_registered_model_loads_by_name_and_predicts_raw_text(project, monkeypatch, tmp_path):
    root, params, _, registered = project
    import mlflow
    import pandas as pd

    from pipeline.data.split import read_split
    from pipeline.serving.predict import load_predictor

    # the selection: best validation macro-F1, then fewer parameters
    runs = {a: json.loads((root / "models" / a / "run.json").read_text()) for a in ARCHS}
    assert registered["arch"] == min(ARCHS, key=lambda a: (-runs[a]["best_val_f1_macro"], runs[a]["parameters"], a))
    monkeypatch.chdir(tmp_path)  # load from elsewhere: nothing of the project's folders is needed
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    uri = f"models:/{params.registry.model_name}@{params.registry.alias}"
    model = mlflow.pyfunc.load_model(uri)
    shipped = Path(mlflow.artifacts.download_artifacts(uri)) / "code" / "pipeline"
    assert (shipped / "serving" / "pyfunc.py").is_file() and (shipped / "stages" / "register.py").is_file()
    rows = read_split(root / "data" / "processed" / "test.jsonl")[:8]
    out = model.predict(pd.DataFrame({"text": [r["text"] for r in rows]}))
    expected = load_predictor(root / "models" / registered["arch"], root / "data" / "processed").predict_proba(rows)
    labels = json.loads((root / "data" / "processed" / "classes.json").read_text(encoding="utf-8"))["labels"]
    assert list(out["label"]) == [labels[max(range(3), key=p.__getitem__)] for p in expected]
    np.testing.assert_allclose(out[[f"p_{lab}" for lab in labels]].to_numpy(), expected, atol=1e-5)
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias(params.registry.model_name, params.registry.alias)
    assert str(version.version) == registered["version"]
    assert float(version.tags["test/f1_macro"]) == pytest.approx(_eval(root, registered["arch"])["f1_macro"])
    assert registered["arch"] in version.description
    with pytest.raises(Exception, match=r"missing inputs \['text'\]"):  # the signature asks for a text column
        model.predict(pd.DataFrame({"body": ["نص"]}))


def test_figure_text_stays_in_reading_order_and_the_pareto_front():
    from pipeline.reporting.figures import ar, pareto_front

    # matplotlib (3.11) joins and orders Arabic itself: pre-shaped, reversed text would be reversed twice
    # (tests/test_report_figures.py checks the glyphs it draws)
    assert ar("يحدث") == "يحدث"
    assert ar("lstm 0.5") == "lstm 0.5"
    front = pareto_front([(10, 0.5, "a"), (5, 0.4, "b"), (20, 0.45, "c"), (1, 0.2, "d"), (5, 0.3, "e")])
    assert [p[2] for p in front] == ["d", "b", "a"]


def test_report_shows_intervals_significance_registry_explanations_and_figures(project):
    root, params, _, _ = project
    from pipeline.stages.report import report

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        report(params)
    html = (root / "reports" / "report.html").read_text(encoding="utf-8")
    md = (root / "reports" / "report.md").read_text(encoding="utf-8")
    for arch in ARCHS:
        ev = _eval(root, arch)
        cell = f"{ev['f1_macro']:.4f} [{ev['ci']['f1_macro']['low']:.3f}, {ev['ci']['f1_macro']['high']:.3f}]"
        assert cell in html and cell in md
        search = f"tags.stage = &#39;train&#39; and tags.arch = &#39;{arch}&#39;"  # how to find its runs, not their ids
        assert search in html and search.replace("&#39;", "'") in md
        assert runlog.read(root / "reports" / "eval" / f"{arch}.json")["mlflow_run_id"] not in md
    gru = _eval(root, "gru")
    assert f"{gru['seed_mean']['f1_macro']:.4f} ± {gru['seed_std']['f1_macro']:.4f} (n=2)" in html
    assert f"models:/{params.registry.model_name}@{params.registry.alias}" in html
    assert "McNemar" in html and "Really worse than" in md
    assert html.count('class="tok"') == sum(len(e["tokens"]) for a in ARCHS for e in _eval(root, a)["explanations"])
    for name in ("cost", "curves", "confusion", "pr", "calibration", "explain-lstm", "explain-gru"):
        assert (root / "reports" / "figures" / f"{name}.png").stat().st_size > 1000
        assert f"figures/{name}.png" in md
    assert "<script" not in html and 'src="http' not in html and "<link" not in html


def test_report_renders_tuning_and_generation_and_never_lets_scraped_markup_run(project):
    root, params, _, _ = project
    from pipeline.stages.report import report

    reports = root / "reports"
    evil = "<script>alert('x')</script> نص"
    path = reports / "eval" / "gru.json"
    original = path.read_text(encoding="utf-8")
    ev = json.loads(original)
    wrong = {"id": "x", "url": None, "text": evil, "true": "negative", "pred": "positive", "confidence": 0.9}
    ev["confident_errors"] = {"negative": [wrong]}
    ev["explanations"][0]["tokens"][0] = "<img src=x onerror=alert(1)>"
    path.write_text(json.dumps(ev, ensure_ascii=False), encoding="utf-8")
    trials = [
        {"number": 0, "state": "COMPLETE", "value": 0.5, "params": {"lr": 0.01}, "intermediate": {"0": 0.4}},
        {"number": 1, "state": "PRUNED", "value": None, "params": {"lr": 0.1}, "intermediate": {"0": 0.2}},
        {"number": 2, "state": "COMPLETE", "value": 0.6, "params": {"lr": 0.003}, "intermediate": {"0": 0.5}},
    ]
    study = {
        "arch": "gru",
        "study_name": "tune-gru",
        "storage": "sqlite:///optuna.db",
        "metric": "val/f1_macro",
        "direction": "maximize",
        "n_trials": 3,
        "states": {"COMPLETE": 2, "PRUNED": 1, "FAIL": 0},
        "best": {"number": 2, "value": 0.6, "params": {"lr": 0.003}},
        "trials": trials,
        "importances": {"lr": 1.0},
        "mlflow_parent_run_id": "parent123",
    }
    (reports / "tuning").mkdir(exist_ok=True)
    (reports / "tuning" / "gru.json").write_text(json.dumps(study), encoding="utf-8")
    (reports / "tuning" / "lstm.json").write_text(json.dumps({"arch": "lstm", "tuned": False}), encoding="utf-8")
    (reports / "generation").mkdir(exist_ok=True)
    gen = {
        "rows": [{"dataset": "demo", "model": "gpt2", "perplexity": 123.456, "bleu": 1.5, "chrf": 10.0}],
        "class_agreement": {"rate": 0.5, "chance": 0.33, "n": 12, "classifier": "gru"},
    }
    (reports / "generation" / "metrics.json").write_text(json.dumps(gen), encoding="utf-8")
    sample = {"model": "gpt2", "topic": "hotels", "prompt": "الفندق", "label": "positive", "decoding": "greedy"}
    (reports / "generation" / "samples.json").write_text(json.dumps([{**sample, "text": evil}]), encoding="utf-8")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(root)
            report(params)
        html = (reports / "report.html").read_text(encoding="utf-8")
        md = (reports / "report.md").read_text(encoding="utf-8")
    finally:
        path.write_text(original, encoding="utf-8")
        for sub in ("tuning", "generation"):
            for f in (reports / sub).iterdir():
                f.unlink()
    assert "<script>" not in html and "<img src=x" not in html
    assert html.count("&lt;script&gt;alert(") == 2  # the confident error and the generated sample
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Tuning" in html and "parent123" not in html and "tags.study_name = 'tune-gru'" in md
    assert "figures/tuning-gru.png" in md
    assert (reports / "figures" / "tuning-gru.png").is_file() and not (reports / "figures" / "tuning-lstm.png").exists()
    assert "123.5" in html and "Class agreement" in md and '<td class="rtl" dir="rtl" lang="ar"><bdi>' in html


def test_registered_version_states_the_interval_level_evaluate_used(project):
    """The version's description gives the macro-F1 interval at the evaluated level (it said "95% CI" always)."""
    root, params, _, registered = project
    from mlflow.tracking import MlflowClient

    path = root / "reports" / "eval" / f"{registered['arch']}.json"
    saved = {p: p.read_text(encoding="utf-8") for p in (path, root / "reports" / "registry.json")}
    ev = json.loads(saved[path])
    ev["ci"]["level"] = 0.9
    path.write_text(json.dumps(ev, ensure_ascii=False), encoding="utf-8")
    evaluate_at_90 = params.evaluate.model_copy(update={"confidence_level": 0.9})
    # a model name of its own: the project's registered model and its alias stay as the other tests see them
    own_name = params.registry.model_copy(update={"model_name": params.registry.model_name + "-ci90"})
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(root)
            record = register(params.model_copy(update={"evaluate": evaluate_at_90, "registry": own_name}))
    finally:
        for p, text in saved.items():
            p.write_text(text, encoding="utf-8")
    ci = ev["ci"]["f1_macro"]
    assert f"(90% CI {ci['low']:.4f}–{ci['high']:.4f})" in record["description"]
    assert "95%" not in record["description"]
    version = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}").get_model_version(
        own_name.model_name, record["version"]
    )
    assert version.description.startswith(record["description"])  # MLflow's adds the training run and commit
    assert "Training run" in version.description and "Training run" not in record["description"]
