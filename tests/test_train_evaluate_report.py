"""Train two tiny models on synthetic data, then evaluate and report; check files and MLflow."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import load_params
from pipeline.data.preprocessing import preprocess
from pipeline.evaluation.metrics import classification_metrics
from pipeline.stages.evaluate import evaluate
from pipeline.stages.report import report
from pipeline.stages.train import train
from pipeline.training.run_record import RunRecord
from tests.conftest import make_raw_docs, preprocessed_project, write_params, write_raw

OVERRIDES = {
    "train.architectures": ["lstm", "gru"],
    "train.max_epochs": 8,
    "train.patience": 8,
    "train.lr": 0.01,
    "train.hidden_dim": 16,
    "train.embedding_dim": 16,
    "train.batch_size": 16,
    "preprocess.min_token_freq": 1,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    with preprocessed_project(root, OVERRIDES, 132) as params:
        records = {arch: train(params, arch).model_dump() for arch in ("lstm", "gru")}
        headline = evaluate(params)
        report(params)
        yield root, params, records, headline


def test_checkpoints_and_run_records(trained):
    root, params, records, _ = trained
    for arch, rec in records.items():
        folder = root / "models" / arch
        assert (folder / "best.ckpt").is_file()
        saved = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        assert saved["arch"] == arch and saved["seed"] == 42
        assert saved["versions"]["torch"].startswith("2.13")
        assert saved["params"]["train.lr"] == params.train.lr
        assert saved["parameters"] > 0 and saved["epochs_run"] == len(saved["curve"]) >= 1
        best = max(saved["curve"], key=lambda r: r["val/f1_macro"])
        assert saved["best_epoch"] == best["epoch"]
        assert "mlflow_run_id" not in saved and RunRecord.load(folder).mlflow_run_id == rec["mlflow_run_id"]


def test_models_learn_the_synthetic_task(trained):
    _, _, records, headline = trained
    for arch in records:
        assert records[arch]["best_val_f1_macro"] > 0.6, records[arch]["curve"]
        assert headline[arch]["f1_macro"] > 0.5


def test_mlflow_holds_one_run_per_architecture_with_curves_and_test_metrics(trained):
    root, params, records, headline = trained
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name(params.base.mlflow_experiment)
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"preprocess", "train-lstm", "train-gru"}
    assert runs["preprocess"].data.metrics["documents"] == 132
    for arch, rec in records.items():
        run = runs[f"train-{arch}"]
        assert run.info.run_id == rec["mlflow_run_id"]
        assert run.data.tags["seed"] == "42" and run.data.tags["git_commit"]
        assert "version.lightning" in run.data.tags
        assert run.data.params["train.lr"] == str(params.train.lr)
        history = client.get_metric_history(run.info.run_id, "val/f1_macro")
        assert len(history) == rec["epochs_run"]
        assert run.data.metrics["test/f1_macro"] == pytest.approx(headline[arch]["f1_macro"])
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"run.json", "best.ckpt", f"{arch}.json"} <= artifacts


def test_same_params_give_the_same_training_even_beside_a_busy_process(trained):
    """Under ``base.deterministic`` a training runs on a fixed thread count (1), not the load-following governor:
    CPU kernels split sums among threads, so a thread count that changed with the load changed the weights."""
    root, params, records, _ = trained
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # holds a core during the retraining
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(root)
            mp.delenv("PIPELINE_NUM_THREADS", raising=False)
            again = train(params, "lstm").model_dump()
    finally:
        busy.kill()
        busy.wait(timeout=10)
    assert again["curve"] == records["lstm"]["curve"]
    assert again["torch_threads"] == records["lstm"]["torch_threads"] == 1


def test_metrics_json_and_eval_files(trained):
    root, _, _, headline = trained
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert metrics == headline and set(metrics) == {"lstm", "gru"}
    ev = json.loads((root / "reports" / "eval" / "lstm.json").read_text(encoding="utf-8"))
    assert sum(map(sum, ev["confusion_matrix"])) == ev["test_documents"]
    assert set(ev["per_class"]) == {"negative", "neutral", "positive"}


def test_classification_metrics_known_values():
    m = classification_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3, abs=1e-4)


def test_report_is_self_contained_and_escapes_scraped_text(trained):
    root, params, _, headline = trained
    html = (root / "reports" / "report.html").read_text(encoding="utf-8")
    md = (root / "reports" / "report.md").read_text(encoding="utf-8")
    for arch, m in headline.items():
        assert f"{m['f1_macro']:.4f}" in html and f"| {arch} |" in md
    assert "data:image/png;base64," in html
    assert "<script" not in html and 'src="http' not in html and "<link" not in html
    # a scraped page's markup must not become live HTML in the report
    path = root / "reports" / "eval" / "lstm.json"
    ev = json.loads(path.read_text(encoding="utf-8"))
    ev["examples"][0]["text"] = "<script>alert('x')</script> نص"
    path.write_text(json.dumps(ev, ensure_ascii=False), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        report(params)
    html = (root / "reports" / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;alert(" in html


def test_two_class_bins_flow_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_params(
        Path("params.yaml"),
        {
            **OVERRIDES,
            "preprocess.bins": {"edges": [5.0], "labels": ["neg", "pos"]},
            "train.max_epochs": 1,
            "train.architectures": ["gru"],
            "tune.architectures": [],
        },
    )
    write_raw(tmp_path, make_raw_docs(44))
    params = load_params()
    preprocess(params)
    rec = train(params, "gru").model_dump()
    assert rec["epochs_run"] == 1
    assert evaluate(params)["gru"]["accuracy"] >= 0
