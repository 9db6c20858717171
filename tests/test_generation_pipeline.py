"""End to end on a tiny corpus: preprocess → classifier → evaluate → LM tokenizer → both LMs → generate."""

import json
import math

import pytest

from pipeline import runlog
from pipeline.generation.store import load_lm
from pipeline.generation.training import train_lm
from pipeline.stages.evaluate import evaluate
from pipeline.stages.generate import generate
from pipeline.stages.lm_tokenizer import build_tokenizer
from pipeline.stages.train import train
from tests.conftest import preprocessed_project
from tests.test_generation_training import TINY

pytestmark = pytest.mark.slow
OVERRIDES = {
    **TINY,
    "train.architectures": ["tfidf_linear"],
    "tune.architectures": [],  # nothing tuned: a tuned architecture must be trained
    "preprocess.min_token_freq": 1,
    "generate.train.max_epochs": 2,
    "generate.eval.continuation_docs": 8,
    "generate.eval.prompt_words": 4,
    "generate.eval.reference_words": 6,
    "generate.eval.agreement_per_class": 4,
    "generate.prompts": {"restaurants": ["هذا المكان"], "hotels": ["الخدمة في الفندق"]},
}


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen-e2e")
    with preprocessed_project(root, OVERRIDES, 90) as params:
        train(params, "tfidf_linear")
        evaluate(params)
        build_tokenizer(params)
        records = {name: train_lm(params, name).model_dump() for name in ("lstm_lm", "gpt2")}
        result = generate(params)
        yield root, params, records, result


def test_metrics_follow_the_contract(stages):
    root, _, records, result = stages
    saved = json.loads((root / "reports/generation/metrics.json").read_text(encoding="utf-8"))
    assert saved == result
    assert [r["model"] for r in saved["rows"]] == ["lstm_lm", "gpt2"]
    for row in saved["rows"]:
        assert row["dataset"] == "demo"
        for key in ("perplexity", "bleu", "chrf", "distinct_2", "val_loss", "parameters"):
            assert isinstance(row[key], int | float) and row[key] >= 0, key
        assert row["perplexity"] == pytest.approx(math.exp(row["val_loss"]), rel=1e-3)
        # a trained model beats a uniform guess over its vocabulary
        assert row["perplexity"] < records[row["model"]]["vocab_size"]
        assert "mlflow_run_id" not in row and "train_tokens_per_s" not in row  # run to run: in the run log
    runs = runlog.read(root / "reports/generation/metrics.json")
    for name, rec in records.items():
        assert runs[name] == {"train_tokens_per_s": rec["train_tokens_per_s"], "mlflow_run_id": rec["mlflow_run_id"]}
        assert row["continuations"] == 8 and 0 < row["distinct_2"] <= 1
    agreement = saved["class_agreement"]
    assert agreement["chance"] == pytest.approx(1 / 3, abs=1e-3)
    assert agreement["classifier"] == "tfidf_linear" and agreement["n"] == 12 and agreement["model"] == "gpt2"
    assert set(agreement["per_class"]) == {"negative", "neutral", "positive"} and 0 <= agreement["rate"] <= 1
    assert set(agreement["by_model"]) == {"lstm_lm", "gpt2"}
    headline = json.loads((root / "reports/generation/headline.json").read_text(encoding="utf-8"))
    assert headline["class_agreement"] == agreement["rate"]
    assert headline["gpt2"]["chrf"] == saved["rows"][1]["chrf"] and set(headline["lstm_lm"]) == {
        "perplexity",
        "bleu",
        "chrf",
        "distinct_2",
    }


def test_samples_cover_prompts_decodings_and_labels_within_limits(stages):
    root, _, _, _ = stages
    samples = json.loads((root / "reports/generation/samples.json").read_text(encoding="utf-8"))
    # per model: 2 prompts × (2 decodings unconditioned + 3 labels)
    assert len(samples) == 2 * 2 * (2 + 3)
    assert {s["model"] for s in samples} == {"lstm_lm", "gpt2"}
    assert {s["label"] for s in samples} == {None, "negative", "neutral", "positive"}
    assert {s["decoding"]["name"] for s in samples} == {"greedy", "sampled"}
    codecs = {name: load_lm(root / "models/lm" / name).codec for name in ("lstm_lm", "gpt2")}
    for s in samples:
        assert s["text"].startswith(s["prompt"]) and s["decoding"]["max_new_tokens"] == 12
        assert len(s["continuation"].split()) <= 12  # max_new_tokens: each new token starts at most one word
        assert codecs[s["model"]].decode(codecs[s["model"]].encode(s["text"])) == s["text"]
        assert {"temperature", "top_k", "top_p", "repetition_penalty", "greedy"} <= set(s["decoding"])


def test_mlflow_holds_lm_curves_and_the_generate_run(stages):
    root, params, records, _ = stages
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name(params.base.mlflow_experiment)
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert {"train_lm-lstm_lm", "train_lm-gpt2", "generate"} <= set(runs)
    for name, rec in records.items():
        run = runs[f"train_lm-{name}"]
        assert run.info.run_id == rec["mlflow_run_id"] and run.data.tags["stage"] == "train_lm"
        history = client.get_metric_history(run.info.run_id, "val/perplexity")
        assert len(history) == rec["epochs_run"] == 2
        assert "heldout/bleu" in run.data.metrics and "train_tokens_per_s" in run.data.metrics
        run_json = json.loads((root / "models/lm" / name / "run.json").read_text())
        assert [r["epoch"] for r in run_json["curve"]] == [0, 1]
    gen = runs["generate"].data
    assert {"lstm_lm/perplexity", "gpt2/chrf", "gpt2/class_agreement", "class_agreement/chance"} <= set(gen.metrics)
    assert gen.params["classifier"] == "tfidf_linear"
