"""The HTTP API (``python -m pipeline serve``) on a tiny registered model: real uvicorn servers in subprocesses on
127.0.0.1, every endpoint and limit, parity with the offline predictor on every test row, ``mlflow models serve``."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pipeline.serving.predict import load_predictor
from pipeline.serving.registration import register
from pipeline.stages.evaluate import evaluate
from pipeline.stages.export import export
from pipeline.stages.lm_tokenizer import build_tokenizer
from pipeline.stages.train import train
from pipeline.stages.train_lm import train_lm
from tests.conftest import preprocessed_project, write_params
from tests.serve_helpers import free_port, start, start_serve
from tests.test_generation_training import TINY

ARCHS = ["tfidf_linear", "gru"]
OVERRIDES = {
    **TINY,
    "generate.models": ["lstm_lm"],
    "generate.default_model": "lstm_lm",
    "generate.train.max_epochs": 1,
    "serve.max_new_tokens": 12,
    "train.architectures": ARCHS,
    "tune.architectures": [],
    "train.max_epochs": 1,
    "train.patience": 1,
    "train.hidden_dim": 16,
    "train.embedding_dim": 16,
    "train.batch_size": 16,
    "preprocess.min_token_freq": 1,
    "evaluate.bootstrap_resamples": 20,
    "evaluate.explain_documents": 0,
    "serve.max_texts": 8,
    "serve.max_chars": 300,
    "serve.max_wait_ms": 20,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Train, evaluate and register; start the server on the champion, one on models/gru, one with a tiny timeout
    and ``mlflow models serve`` (all at once), wait for them; stop them all at the end."""
    root = tmp_path_factory.mktemp("serve")
    with preprocessed_project(root, OVERRIDES, 132) as params:
        for arch in ARCHS:
            train(params, arch)
        evaluate(params)
        registered = register(params)
        build_tokenizer(params)
        train_lm(params, "lstm_lm")
        export(params)
    slow = root / "slow"
    slow.mkdir()
    write_params(slow / "params.yaml", {**OVERRIDES, "base.processed_dir": str(root / "data/processed"),
                                        "serve.timeout_s": 0.000001})  # fmt: skip
    mlflow_port = free_port()
    servers = {
        "champion": start_serve(root, root / "champion.log"),
        "gru": start_serve(root, root / "gru.log", "--model", "models/gru"),
        "onnx": start_serve(root, root / "onnx.log", "--model", "models/gru", "--runtime", "onnx"),
        "slow": start_serve(slow, root / "slow.log", "--model", str(root / "models/gru")),
        "mlflow": start(
            ["-m", "mlflow", "models", "serve", "-m", f"models:/{registered['name']}@{registered['alias']}",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port)],
            root, root / "mlflow.log", mlflow_port, env={"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"},
        ),
    }  # fmt: skip
    try:
        for name, server in servers.items():
            server.wait("/ping" if name == "mlflow" else "/ready")
        yield root, params, registered, servers
    finally:
        for server in servers.values():
            server.stop()


def split_rows(root: Path) -> list[dict]:
    lines = (root / "data/processed/test.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def offline_labels(root: Path, arch: str, rows: list[dict]) -> list[str]:
    """The evaluate stage's predictions: ``load_predictor`` on the preprocessed split rows, argmax."""
    labels = json.loads((root / "data/processed/classes.json").read_text(encoding="utf-8"))["labels"]
    probs = load_predictor(root / "models" / arch, root / "data/processed").predict_proba(rows)
    return [labels[max(range(len(p)), key=p.__getitem__)] for p in probs]


def classify_all(server, texts: list[str], chunk: int = 8) -> list[dict]:
    """Every text, ``chunk`` per request, the requests sent concurrently (micro-batched together)."""
    chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda c: server.request("POST", "/v1/classify", {"texts": c}), chunks))
    assert all(status == 200 for status, _ in answers), answers
    return [p for _, body in answers for p in body["predictions"]]


def test_champion_labels_equal_the_offline_predictor_on_every_test_row(project):
    root, _, registered, servers = project
    rows = split_rows(root)
    predictions = classify_all(servers["champion"], [r["text"] for r in rows])
    assert [p["label"] for p in predictions] == offline_labels(root, registered["arch"], rows)
    for p in predictions:
        assert abs(sum(p["probabilities"].values()) - 1) < 1e-5


def test_model_folder_labels_equal_the_offline_predictor(project):
    root, _, _, servers = project
    rows = split_rows(root)
    predictions = classify_all(servers["gru"], [r["text"] for r in rows])
    assert [p["label"] for p in predictions] == offline_labels(root, "gru", rows)


def test_onnx_runtime_answers_equal_the_offline_onnx_predictions(project):
    from pipeline.serving.export import OnnxPredictor

    root, _, _, servers = project
    rows = split_rows(root)
    predictions = classify_all(servers["onnx"], [r["text"] for r in rows])
    base = load_predictor(root / "models/gru", root / "data/processed")
    offline = OnnxPredictor(base, root / "models/export/gru/model.onnx").predict_proba(rows)
    labels = json.loads((root / "data/processed/classes.json").read_text(encoding="utf-8"))["labels"]
    for served, probs in zip(predictions, offline, strict=True):
        assert served["label"] == labels[max(range(len(probs)), key=probs.__getitem__)]
        assert list(served["probabilities"].values()) == pytest.approx(probs, abs=1e-6)
    assert [p["label"] for p in predictions] == offline_labels(root, "gru", rows)  # and PyTorch's


def test_export_stage_writes_both_files_and_the_benchmark_times_them(project, tmp_path):
    root = project[0]
    rows = json.loads((root / "models/export/export.json").read_text(encoding="utf-8"))
    assert [(r["arch"], r["runtime"]) for r in rows] == [
        ("gru", runtime) for runtime in ("torch-fp32", "onnx-fp32", "onnx-int8", "torch-int8")
    ]  # tfidf_linear has no ONNX export
    for r in rows:
        assert 0 <= r["macro_f1"] <= 1 and r["size_mb"] > 0 and 0 < r["same_as_fp32"] <= 1
        assert not any(k.startswith("p50_") for k in r)  # a measurement: the benchmark's, not the stage's output
    fp32 = rows[1]
    assert fp32["max_abs_diff"] <= 1e-4
    assert rows[0]["same_as_fp32"] == 1.0  # PyTorch fp32 is the reference
    assert fp32["macro_f1"] == rows[0]["macro_f1"]
    assert (root / "models/export/gru/model.int8.onnx").is_file()
    assert fp32["size_mb"] == pytest.approx((root / "models/export/gru/model.onnx").stat().st_size / 1e6, abs=1e-3)
    # bench/bench_export.py's call: the same rows with latencies, written elsewhere, the stage's files untouched
    from pipeline.config import load_params

    before = (root / "models/export/gru/model.onnx").read_bytes()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        timed = export(load_params(), timed=True, out_dir=tmp_path)
    for r, t in zip(rows, timed, strict=True):
        assert {k: t[k] for k in r} == r and t["p50_ms_b1"] > 0 and t["p50_ms_b32"] > 0
    assert (tmp_path / "gru" / "model.onnx").read_bytes() == before  # the export itself is reproducible
    assert (root / "models/export/gru/model.onnx").read_bytes() == before


def test_classify_names_the_model(project):
    _, _, registered, servers = project
    status, body = servers["champion"].request("POST", "/v1/classify", {"texts": ["الخدمة ممتازة والمكان نظيف"]})
    assert status == 200 and body["model"] == {"name": registered["name"], "version": registered["version"]}
    labels = json.loads((project[0] / "data/processed/classes.json").read_text(encoding="utf-8"))["labels"]
    assert set(body["predictions"][0]["probabilities"]) == set(labels)
    assert body["predictions"][0]["label"] in labels


def test_mlflow_models_serve_returns_the_same_labels(project):
    root, _, _, servers = project
    texts = [r["text"] for r in split_rows(root)]
    records = {"dataframe_records": [{"text": t} for t in texts]}
    status, body = servers["mlflow"].request("POST", "/invocations", records)
    assert status == 200, body
    mlflow_labels = [p["label"] for p in body["predictions"]]
    assert mlflow_labels == [p["label"] for p in classify_all(servers["champion"], texts)]


@pytest.mark.parametrize("texts", [[""], ["   "], ["hello world, no Arabic here"], ["!!! 123 ???"], ["😀"]])
def test_empty_and_non_arabic_text_is_answered(project, texts):
    status, body = project[3]["champion"].request("POST", "/v1/classify", {"texts": texts})
    assert status == 200 and len(body["predictions"]) == 1


def post(server, path: str, body: Any, content_type: str = "application/json") -> tuple[int, Any]:
    """``(status, JSON answer)`` of a POST with ``content_type``; ``body``: bytes, or byte chunks sent chunked."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        chunked = not isinstance(body, bytes)
        headers = {"Content-Type": content_type, **({"Transfer-Encoding": "chunked"} if chunked else {})}
        conn.request("POST", path, body=iter(body) if chunked else body, headers=headers, encode_chunked=chunked)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_the_fast_path_and_the_fastapi_route_answer_alike(project):
    """``{"texts": [...]}`` alone takes the ASGI fast path; an extra key (which the route ignores) or another JSON
    media type sends the same request through FastAPI's route: the answers are equal."""
    server = project[3]["champion"]
    texts = [r["text"] for r in split_rows(project[0])[:4]]
    fast = server.request("POST", "/v1/classify", {"texts": texts})
    routed = server.request("POST", "/v1/classify", {"texts": texts, "note": "ignored by the route"})
    body = json.dumps({"texts": texts}).encode("utf-8")
    charset = post(server, "/v1/classify", body, "application/json; charset=utf-8")
    assert fast[0] == 200 and fast == routed == charset
    assert [p["label"] for p in fast[1]["predictions"]] == [p["label"] for p in classify_all(server, texts, chunk=1)]


def test_an_empty_list_gets_no_predictions(project):
    assert project[3]["champion"].request("POST", "/v1/classify", {"texts": []})[1]["predictions"] == []


def test_limits_are_named(project):
    server = project[3]["champion"]
    status, body = server.request("POST", "/v1/classify", {"texts": ["جيد"] * 9})
    assert status == 413 and "serve.max_texts = 8" in body["detail"]
    status, body = server.request("POST", "/v1/classify", {"texts": ["جيد", "ج" * 301]})
    assert status == 413 and "texts[1]" in body["detail"] and "serve.max_chars = 300" in body["detail"]
    status, body = project[3]["gru"].request("POST", "/v1/explain", {"text": "ج" * 301})
    assert status == 413 and "serve.max_chars = 300" in body["detail"]


@pytest.mark.parametrize("path", ["/v1/classify", "/v1/explain", "/v1/generate"])
def test_a_body_past_the_limits_is_413_before_it_is_read(project, path):
    server = project[3]["champion"]
    raw = b'{"texts": ["' + "ج".encode() * 30_000 + b'"]}'  # 60 kB: 8 texts of 300 escaped characters take 18 kB
    status, body = server.request("POST", path, raw=raw)
    assert status == 413, (status, body)
    assert "serve.max_texts = 8" in body["detail"] and "serve.max_chars = 300" in body["detail"]
    assert server.request("POST", "/v1/classify", {"texts": ["جيد"]})[0] == 200


@pytest.mark.parametrize("path", ["/v1/classify", "/v1/generate"])
def test_a_chunked_body_past_the_limits_is_413(project, path):
    """Without a declared length the bytes are counted as they come (50 kB against the 18 kB limit)."""
    chunks = [b'{"texts": ["', *["ج".encode() * 5_000] * 5, b'"]}']
    status, body = post(project[3]["champion"], path, chunks)
    assert status == 413 and "serve.max_chars = 300" in body["detail"], body


@pytest.mark.parametrize(
    ("body", "where"), [({"texts": "جيد"}, "texts"), ({"texts": [1, 2]}, "texts.0"), ({}, "texts"), ([], "body")]
)
def test_wrong_shapes_are_422_naming_the_field(project, body, where):
    status, answer = project[3]["champion"].request("POST", "/v1/classify", body)
    assert status == 422 and answer["detail"].startswith(where), answer


@pytest.mark.parametrize("raw", [b'{"texts": ["\xd8', b"not json", b'{"texts": [', "\ufeff{}".encode("utf-16")])
def test_invalid_json_or_non_utf8_is_400(project, raw):
    status, body = project[3]["champion"].request("POST", "/v1/classify", raw=raw)
    assert status == 400, body


def test_explain_scores_every_token(project):
    status, body = project[3]["gru"].request("POST", "/v1/explain", {"text": "هذا المكان رائع وممتاز", "steps": 8})
    assert status == 200, body
    assert len(body["tokens"]) == len(body["scores"]) > 0 and body["method"] in ("attention", "integrated_gradients")
    labels = json.loads((project[0] / "data/processed/classes.json").read_text(encoding="utf-8"))["labels"]
    assert body["label"] in labels and body["label"] == labels[body["predicted"]]
    assert project[3]["gru"].request("POST", "/v1/explain", {"text": ""})[0] == 200


def test_a_request_past_the_timeout_gets_504_and_the_server_keeps_answering(project):
    slow = project[3]["slow"]
    status, body = slow.request("POST", "/v1/classify", {"texts": ["جيد"]})
    assert status == 504 and "serve.timeout_s" in body["detail"]
    assert slow.request("GET", "/health") == (200, {"status": "ok"})
    assert slow.request("POST", "/v1/classify", {"texts": ["جيد"]})[0] == 504


def test_health_ready_docs_openapi(project):
    server = project[3]["champion"]
    assert server.request("GET", "/health") == (200, {"status": "ok"})
    status, body = server.request("GET", "/ready")
    assert status == 200 and body["ready"] is True and body["model"]["version"] == project[2]["version"]
    status, page = server.request("GET", "/docs")
    assert status == 200 and "swagger" in page.lower()
    status, spec = server.request("GET", "/openapi.json")
    assert status == 200 and {"/v1/classify", "/v1/explain", "/health", "/ready", "/metrics"} <= set(spec["paths"])


def test_metrics_count_requests_latency_and_batches(project):
    server = project[3]["gru"]
    server.request("POST", "/v1/classify", {"texts": ["جيد", "سيء"]})
    before = server.request("GET", "/metrics")[1]
    for _ in range(3):
        server.request("POST", "/v1/classify", {"texts": ["جيد"]})
    status, text = server.request("GET", "/metrics")
    assert status == 200

    def value(metrics: str, name: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name))

    key = 'serve_requests_total{endpoint="/v1/classify",status="200"}'
    assert value(text, key) == value(before, key) + 3
    assert value(text, 'serve_request_seconds_count{endpoint="/v1/classify"}') >= 4
    assert value(text, "serve_batch_size_sum") >= value(before, "serve_batch_size_sum") + 3
    assert 'serve_batch_size_bucket{le="+Inf"}' in text


def test_client_text_never_reaches_the_log(project):
    root, _, _, servers = project
    marker = "MARKER\x1b[31m\nforged-line"
    servers["champion"].request("POST", "/v1/classify", {"texts": [marker]})
    servers["champion"].request("POST", f"/v1/classify?{'x' * 10}", raw=marker.encode())
    assert "MARKER" not in (root / "champion.log").read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize(
    ("model", "named"),
    [
        ("models/nowhere", "models/nowhere"),
        ("models:/no-such-model@champion", "no-such-model"),
        ("models/tfidf_linear --runtime onnx", "tfidf_linear models have no ONNX export"),
    ],
)
def test_a_bad_model_is_a_one_line_error(project, model, named):
    import subprocess
    import sys

    from tests.serve_helpers import REPO

    root = project[0]
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "serve", "--port", str(free_port()), "--model", *model.split()],
        cwd=root, env={"PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and named in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_generate_continues_the_prompt_reproducibly(project):
    server = project[3]["champion"]
    request = {"prompt": "هذا المكان", "max_new_tokens": 8, "seed": 3, "temperature": 0.9, "top_p": 0.9}
    status, body = server.request("POST", "/v1/generate", request)
    assert status == 200, body
    assert body["model"] == "lstm_lm" and body["text"].startswith("هذا المكان") and 0 <= body["new_tokens"] <= 8
    assert server.request("POST", "/v1/generate", request)[1] == body  # same seed, same text
    status, labelled = server.request("POST", "/v1/generate", {**request, "label": "positive", "greedy": True})
    assert status == 200 and labelled["text"].startswith("هذا المكان")


@pytest.mark.parametrize(
    ("request_body", "status", "named"),
    [
        ({"prompt": "هذا المكان", "max_new_tokens": 13}, 422, "serve.max_new_tokens = 12"),
        ({"prompt": "hello there"}, 422, "no Arabic letter"),
        ({"prompt": ""}, 422, "empty prompt"),
        ({"prompt": "ج" * 401}, 422, "generate.max_prompt_chars"),
        ({"prompt": "هذا المكان", "max_new_tokens": 4, "model": "gpt9"}, 422, "gpt9"),
        ({"prompt": "هذا المكان", "max_new_tokens": 4, "label": "great"}, 422, "great"),
        ({"prompt": "هذا المكان", "max_new_tokens": 4, "decoding": "beam"}, 422, "generate.decodings"),
        ({"prompt": "هذا المكان", "temperature": 0}, 422, "temperature"),
    ],
)
def test_generate_limits_and_bad_requests(project, request_body, status, named):
    answer = project[3]["champion"].request("POST", "/v1/generate", request_body)
    assert answer[0] == status and named in answer[1]["detail"], answer
