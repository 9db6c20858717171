"""ONNX export: fp32 parity with PyTorch on a whole test split (shortest and longest documents included) for
every family of network and a tiny BERT, dynamic batch and length axes, the int8 files load and predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import TrainParams
from pipeline.data.split import read_split
from pipeline.serving.export import (
    OnnxPredictor,
    convolutions_as_matmul,
    export_int8,
    export_onnx,
    graph_inputs,
    padded_recurrent,
    quantize_onnx,
    quantize_torch,
    torch_logits,
)
from pipeline.serving.predict import NetworkPredictor
from pipeline.text.vocab import Vocab
from tests.conftest import preprocessed_project

# one per family, and the recurrent variants that differ in the padded forward (bidirectional, 2 layers, pooling)
NETWORKS = [
    ("lstm", "mean", 1),
    ("bilstm", "last", 2),
    ("bigru", "attention", 1),
    ("birnn", "max", 1),
    ("transformer", "mean", 1),
    ("cnn", "mean", 1),
    ("nbow", "mean", 1),
    ("cnn_bag", "mean", 1),
    ("encdec", "mean", 1),
]


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """A preprocessed project's test split (its rows, shortest and longest first) and vocabulary."""
    root = tmp_path_factory.mktemp("export")
    with preprocessed_project(root, {"preprocess.min_token_freq": 1}, 90) as params:
        processed = Path(params.base.processed_dir).resolve()
    rows = read_split(processed / "test.jsonl")
    by_length = sorted(rows, key=lambda r: len(r["tokens"]))
    assert len(by_length[0]["tokens"]) < len(by_length[-1]["tokens"])
    return root, [by_length[0], by_length[-1], *rows], Vocab.load(processed / "vocab.json")


def network(arch: str, pooling: str, layers: int, vocab: Vocab) -> NetworkPredictor:
    from pipeline.training.module import ClassifierModule

    torch.manual_seed(0)
    tp = TrainParams(hidden_dim=8, embedding_dim=8, pooling=pooling, num_layers=layers, max_length=48)
    return NetworkPredictor(arch, ClassifierModule(arch, len(vocab), 3, tp.model_dump()), vocab)


def int8_weights(path: Path) -> list[str]:
    import onnx

    return [t.name for t in onnx.load(str(path)).graph.initializer if t.data_type == onnx.TensorProto.INT8]


def assert_parity(predictor, path: Path, rows: list[dict]) -> OnnxPredictor:
    onnx = OnnxPredictor(predictor, path)
    groups = [rows[:1], rows[1:2], *(rows[i : i + 7] for i in range(0, len(rows), 7))]
    for group in groups:  # batches of other sizes and lengths than the traced example
        np.testing.assert_allclose(onnx.logits(group), torch_logits(predictor, group), rtol=0, atol=1e-4)
    return onnx


@pytest.mark.parametrize(("arch", "pooling", "layers"), NETWORKS)
def test_onnx_fp32_matches_pytorch_on_the_whole_split(split, tmp_path, monkeypatch, arch, pooling, layers):
    _, rows, vocab = split
    predictor = network(arch, pooling, layers, vocab)
    path = export_onnx(predictor, rows[2:4], tmp_path / "model.onnx")
    assert_parity(predictor, path, rows)
    assert not list(tmp_path.glob("*.data"))  # one self-contained file, whichever exporter wrote it
    # the int8 file holds int8 weights, loads and gives probabilities for every row; onnxruntime's shape
    # inference leaves nothing in the working directory (it saves a graph it cannot follow there)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    int8 = quantize_onnx(path, tmp_path / "model.int8.onnx")
    assert int8_weights(int8)
    assert not list((tmp_path / "cwd").iterdir())
    probs = np.array(OnnxPredictor(predictor, int8).predict_proba(rows))
    assert probs.shape == (len(rows), 3) and np.allclose(probs.sum(1), 1)
    probs = np.array(quantize_torch(predictor).predict_proba(rows))
    assert probs.shape == (len(rows), 3) and np.allclose(probs.sum(1), 1)


@pytest.mark.parametrize("arch", ["lstm", "bigru", "encdec"])
def test_the_padded_recurrent_forward_equals_the_packed_one(split, arch):
    _, rows, vocab = split
    predictor = network(arch, "last", 2 if arch == "bigru" else 1, vocab)
    inputs = {k: torch.from_numpy(v) for k, v in graph_inputs(predictor, rows).items()}
    net = predictor.module.net.eval()
    with torch.no_grad():
        packed = net(inputs["ids"], inputs["lengths"])
        with padded_recurrent(net):
            padded = net(inputs["ids"], inputs["lengths"])
    torch.testing.assert_close(padded, packed, rtol=0, atol=1e-5)
    assert not any(getattr(m, "padded", False) for m in net.modules())  # restored


@pytest.mark.parametrize("arch", ["cnn", "cnn_bag"])
def test_convolutions_as_one_matmul_give_the_same_logits_and_the_int8_file(split, tmp_path, arch):
    import onnx

    _, rows, vocab = split
    predictor = network(arch, "mean", 1, vocab)
    net = predictor.module.net.eval()
    inputs = {k: torch.from_numpy(v) for k, v in graph_inputs(predictor, rows).items()}
    with torch.no_grad():
        convolved = net(inputs["ids"], inputs["lengths"])
        with convolutions_as_matmul(net):
            windowed = net(inputs["ids"], inputs["lengths"])
    torch.testing.assert_close(windowed, convolved, rtol=0, atol=1e-5)
    assert not any(hasattr(m, "window_weight") or "pool" in vars(m) for m in net.modules())  # restored
    fp32 = export_onnx(predictor, rows[2:4], tmp_path / "model.onnx")
    vetted: list[Path] = []

    def check(path: Path) -> None:  # what the stage runs on the matmul graph before it is quantised
        assert_parity(predictor, path, rows)
        vetted.append(path)

    int8 = export_int8(predictor, rows[2:4], fp32, tmp_path / "model.int8.onnx", check=check)
    assert len(vetted) == 1 and not vetted[0].exists()  # a temporary graph, gone
    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert "ConvInteger" not in ops and "Conv" not in ops and ops & {"MatMulInteger", "DynamicQuantizeMatMul"}
    assert int8_weights(int8)
    probs = np.array(OnnxPredictor(predictor, int8).predict_proba(rows))
    assert probs.shape == (len(rows), 3) and np.allclose(probs.sum(1), 1)


def test_bert_exports_with_the_same_logits(split, tmp_path, monkeypatch):
    from transformers import BertConfig, BertForSequenceClassification

    from pipeline.pretrained.predictor import PretrainedPredictor
    from pipeline.pretrained.tokenizer import train_wordpiece

    _, rows, _ = split
    tok = train_wordpiece([r["text"] for r in rows], 200, 1, 32)
    config = BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=32, pad_token_id=tok.pad_token_id, num_labels=3,
    )  # fmt: skip
    torch.manual_seed(0)
    predictor = PretrainedPredictor("bert", BertForSequenceClassification(config), tok, None, 32)
    path = export_onnx(predictor, rows[:2], tmp_path / "model.onnx")
    onnx = assert_parity(predictor, path, rows)
    assert not list(tmp_path.glob("*.data")) and path.stat().st_size > 4 * sum(
        p.numel() for p in predictor.model.parameters()
    )
    assert np.allclose(np.array(onnx.predict_proba(rows)), np.array(predictor.predict_proba(rows)), atol=1e-5)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # shape inference fails on this graph and saves it in the working directory
    int8 = OnnxPredictor(predictor, quantize_onnx(path, tmp_path / "model.int8.onnx"))
    assert len(int8.predict_proba(rows)) == len(rows)
    assert not list((tmp_path / "cwd").iterdir())


def test_export_files_record_their_axes(split, tmp_path):
    import onnx

    _, rows, vocab = split
    path = export_onnx(network("gru", "mean", 1, vocab), rows[2:4], tmp_path / "model.onnx")
    graph = onnx.load(str(path)).graph
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert dims == {"ids": ["batch", "time"], "lengths": ["batch"]}
    assert json.dumps([o.name for o in graph.output]) == '["logits"]'


def test_the_stage_names_a_missing_model(split, monkeypatch):
    from pipeline.config import load_params
    from pipeline.data.jsonl import DataError
    from pipeline.stages.export import export

    root, _, _ = split
    monkeypatch.chdir(root)
    with pytest.raises(DataError, match=r"models/lstm/run.json: no trained model"):
        export(load_params())  # train.architectures: lstm, gru, cnn, tfidf_linear; none trained here
