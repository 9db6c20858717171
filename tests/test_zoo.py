"""The classifier zoo: every architecture learns, schedules, class weights, resume, the baseline in the report."""

import json
import math

import pytest

from pipeline.stages.evaluate import evaluate
from pipeline.stages.report import report
from pipeline.stages.train import train
from pipeline.training.fit import resolve_precision
from pipeline.training.module import balanced_class_weights
from pipeline.training.run_record import RunRecord
from tests.conftest import interrupt_at_epoch, preprocessed_project

OVERRIDES = {
    "train.max_epochs": 6,
    "train.patience": 6,
    "train.lr": 0.01,
    "train.hidden_dim": 16,
    "train.embedding_dim": 16,
    "train.batch_size": 16,
    "train.cnn_filters": 8,
    "train.transformer_ff_dim": 32,
    "preprocess.min_token_freq": 1,
}
ZOO = ["transformer", "cnn", "encdec", "tfidf_linear", "tfidf_char_word", "nbsvm"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    with preprocessed_project(root, {**OVERRIDES, "train.architectures": ZOO, "tune.architectures": []}, 132) as params:
        yield root, params


@pytest.fixture(scope="module")
def zoo(project):
    root, params = project
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        records = {arch: train(params, arch).model_dump() for arch in ZOO}
        headline = evaluate(params)
        report(params)
    return records, headline


def test_every_new_architecture_learns_the_synthetic_task(zoo):
    records, headline = zoo
    for arch in ZOO:
        # three classes: chance is about 0.33
        assert records[arch]["best_val_f1_macro"] > 0.5, (arch, records[arch]["curve"])
        assert headline[arch]["f1_macro"] > 0.45, (arch, headline[arch])


def test_attention_pooling_learns_too(project):
    root, params = project
    tp = params.train.model_copy(update={"pooling": "attention"})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        rec = train(params.model_copy(update={"train": tp}), "bigru").model_dump()
    assert rec["best_val_f1_macro"] > 0.5, rec["curve"]


def test_run_records_hold_cost_figures_and_both_checkpoints(project, zoo):
    root, _ = project
    records, _ = zoo
    for arch in records:
        raw = json.loads((root / "models" / arch / "run.json").read_text(encoding="utf-8"))
        assert not {"train_time_s", "latency_ms_per_doc", "mlflow_run_id", "git_commit"} & set(raw)  # run log's
        saved = RunRecord.load(root / "models" / arch).model_dump()
        assert saved["parameters"] > 0 and saved["train_time_s"] >= 0
        assert set(saved["latency_ms_per_doc"]) == {"batch_1", "batch_64"}
        assert all(v > 0 for v in saved["latency_ms_per_doc"].values())
        if arch in ("tfidf_linear", "tfidf_char_word", "nbsvm"):
            assert saved["family"] == "baseline" and saved["C"] is not None
            assert (root / "models" / arch / "model.joblib").is_file()
        else:
            assert (root / "models" / arch / "best.ckpt").is_file() and (root / "models" / arch / "last.ckpt").is_file()
            assert saved["precision"] == "32-true"  # CPU
    assert not (root / "data" / "train-state" / "cnn").exists()  # a finished training leaves no state


def test_baseline_flows_through_evaluate_report_and_mlflow(project, zoo):
    root, _ = project
    records, headline = zoo
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert set(metrics) == set(ZOO)
    ev = json.loads((root / "reports" / "eval" / "tfidf_linear.json").read_text(encoding="utf-8"))
    assert sum(map(sum, ev["confusion_matrix"])) == ev["test_documents"]
    html = (root / "reports" / "report.html").read_text(encoding="utf-8")
    md = (root / "reports" / "report.md").read_text(encoding="utf-8")
    assert "Accuracy against cost" in html and html.count("data:image/png;base64,") >= 5
    assert "best/run epochs" in md and "| tfidf_linear | baseline |" in md
    assert "ms/doc" not in md  # latency is a measurement: in MLflow and the benchmarks, not the report
    for arch in ZOO:
        assert f"{records[arch]['parameters']:,}" in md
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    run = client.get_run(records["tfidf_linear"]["mlflow_run_id"])
    assert run.info.run_name == "train-tfidf_linear"
    assert run.data.metrics["test/f1_macro"] == pytest.approx(headline["tfidf_linear"]["f1_macro"])
    assert run.data.metrics["latency_ms_per_doc/batch_64"] > 0
    assert {"run.json", "model.joblib"} <= {a.path for a in client.list_artifacts(run.info.run_id)}


def _factor(kind: str, step: int, warmup: int, total: int) -> float:
    """The LR multiplier of transformers' warmup schedules (what the modules use) at ``step``."""
    import torch

    from pipeline.training.optim import with_schedule

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    conf = with_schedule(opt, kind, warmup / total, total)
    return conf["lr_scheduler"]["scheduler"].lr_lambdas[0](step)


def test_warmup_schedules_come_from_transformers():
    # linear warmup from 0 over 2 of 10 steps, then linear / half-cosine decay to 0
    assert [_factor("linear", s, 2, 10) for s in range(3)] == pytest.approx([0.0, 0.5, 1.0])
    assert _factor("linear", 6, 2, 10) == pytest.approx(0.5)
    assert _factor("linear", 10, 2, 10) == 0.0
    assert _factor("cosine", 6, 2, 10) == pytest.approx(0.5)
    assert _factor("cosine", 4, 2, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert _factor("cosine", 10, 2, 10) == pytest.approx(0.0)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_step_schedules_change_the_lr_as_declared(project, kind):
    root, params = project
    tp = params.train.model_copy(update={"scheduler": kind, "warmup_ratio": 0.25, "max_epochs": 3})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        rec = train(params.model_copy(update={"train": tp}), "cnn").model_dump()
    steps_per_epoch = math.ceil(rec["train_samples"] / tp.batch_size)
    total = 3 * steps_per_epoch
    warmup = int(0.25 * total)
    for row in rec["curve"]:
        steps_done = (row["epoch"] + 1) * steps_per_epoch
        assert row["lr"] == pytest.approx(tp.lr * _factor(kind, steps_done, warmup, total), abs=1e-9)
    assert rec["curve"][-1]["lr"] == pytest.approx(0.0, abs=1e-9)


def test_plateau_scheduler_watches_validation_macro_f1():
    import torch

    from pipeline.config import TrainParams
    from pipeline.training.module import ClassifierModule

    module = ClassifierModule("cnn", 20, 3, TrainParams(scheduler="plateau", patience=4).model_dump())
    conf = module.configure_optimizers()
    sched = conf["lr_scheduler"]
    assert isinstance(sched["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert sched["monitor"] == "val/f1_macro" and sched["scheduler"].mode == "max"
    opt = conf["optimizer"]
    for _ in range(3):
        sched["scheduler"].step(0.5)  # no improvement after the first
    assert opt.param_groups[0]["lr"] == pytest.approx(TrainParams().lr * 0.5)


def test_balanced_class_weights():
    import numpy as np
    from sklearn.utils.class_weight import compute_class_weight

    labels = [0, 0, 0, 0, 1, 1, 2, 0]
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=np.array(labels))
    assert balanced_class_weights(labels, 3) == pytest.approx(list(expected))
    assert balanced_class_weights([0, 0, 1], 3) == pytest.approx([0.5, 1.0, 1.0])  # absent class: 1


def test_class_weights_reach_the_loss(project):
    root, params = project
    tp = params.train.model_copy(update={"class_weights": "balanced", "max_epochs": 1})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        rec = train(params.model_copy(update={"train": tp}), "cnn").model_dump()
        from pipeline.training.module import ClassifierModule

        module = ClassifierModule.load_from_checkpoint(
            root / "models" / "cnn" / "best.ckpt", map_location="cpu", weights_only=True
        )
    labels = [json.loads(line)["label"] for line in (root / "data/processed/train.jsonl").read_text().splitlines()]
    assert rec["class_weights"] == pytest.approx(balanced_class_weights(labels, 3))
    assert module.loss.weight.tolist() == pytest.approx(rec["class_weights"])


def test_precision_is_mixed_only_on_gpu():
    assert resolve_precision("auto", cuda=False) == "32-true"
    assert resolve_precision("bf16-mixed", cuda=False) == "32-true"
    assert resolve_precision("auto", cuda=True, bf16_supported=True) == "bf16-mixed"
    assert resolve_precision("auto", cuda=True, bf16_supported=False) == "16-mixed"
    assert resolve_precision("32", cuda=True) == "32-true"


def test_interrupted_training_resumes_from_last_checkpoint(project):
    root, params = project
    tp = params.train.model_copy(update={"max_epochs": 4, "patience": 10})
    p = params.model_copy(update={"train": tp})

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        with pytest.raises(RuntimeError, match="killed"):
            train(p, "gru", callbacks=[interrupt_at_epoch(2)])
        state = root / "data" / "train-state" / "gru"
        assert (state / "checkpoints" / "last.ckpt").is_file()
        first_run = json.loads((state / "state.json").read_text())["mlflow_run_id"]
        rec = train(p, "gru").model_dump()
        assert rec["resumed_at_epoch"] == 2
        assert [r["epoch"] for r in rec["curve"]] == [0, 1, 2, 3] and rec["epochs_run"] == 4
        assert rec["mlflow_run_id"] == first_run
        assert not state.exists()
        assert (root / "models" / "gru" / "last.ckpt").is_file()

        # other params: the state of an interrupted training is discarded, not resumed
        with pytest.raises(RuntimeError, match="killed"):
            train(p, "gru", callbacks=[interrupt_at_epoch(2)])
        other = p.model_copy(update={"train": tp.model_copy(update={"lr": 0.02})})
        again = train(other, "gru").model_dump()
        assert again["resumed_at_epoch"] is None and again["epochs_run"] == 4


def test_seeds_train_one_model_per_seed_each_reproducible(project, tmp_path):
    from pipeline.stages.train import with_seed
    from pipeline.training.run_record import seed_dirs

    root, params = project
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        tp = params.train.model_copy(update={"seeds": [5, 6], "max_epochs": 2, "architectures": ["cnn"]})
        base = params.base.model_copy(update={"models_dir": str(tmp_path / "m")})
        multi = params.model_copy(update={"train": tp, "base": base})
        primary = train(multi, "cnn").model_dump()
        folders = seed_dirs(tmp_path / "m" / "cnn")
        assert [f.name for f in folders] == ["cnn", "6"]
        runs = [json.loads((f / "run.json").read_text()) for f in folders]
        assert [r["seed"] for r in runs] == [5, 6] and primary["seed"] == 5
        assert all((f / "best.ckpt").is_file() for f in folders)
        assert runs[0]["curve"] != runs[1]["curve"]  # another seed, another training
        # the seed-6 model is exactly what a single training with base.seed 6 gives
        single = with_seed(multi.model_copy(update={"train": tp.model_copy(update={"seeds": []})}), 6)
        single = single.model_copy(update={"base": single.base.model_copy(update={"models_dir": str(tmp_path / "s")})})
        assert train(single, "cnn").curve == runs[1]["curve"]
