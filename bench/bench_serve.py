"""Benchmark: the HTTP API (``python -m pipeline serve``) against the same model called in-process.

In a temporary project: synthetic reviews (``tests.conftest.make_raw_docs``, ``SERVE_DOCS``, default 400),
preprocessed; a GRU (``SERVE_ARCH``: another network, written to ``serve_<arch>.json``) trained for
``SERVE_EPOCHS`` (default 2), evaluated and registered; the server started on
127.0.0.1 serving ``models:/<name>@champion``. For each concurrency (1, 8, 32) a closed loop of that many
clients (each sends one text, waits for the answer, checks it is a 200 with one prediction, sends the next) runs
for ``SERVE_SECONDS`` (default 10) after a one-second warm-up. ``SERVE_CLIENT``: ``raw`` (default: pre-encoded
HTTP/1.1 requests on keep-alive asyncio connections, ~0.05 ms of CPU per request) or ``httpx`` (httpx2's
AsyncClient, ~0.8 ms per request: on two cores it, not the server, set the pace). ``in_process_per_s``: the same
registered model loaded in this process, called with the server's mean micro-batch size at that concurrency (read
from its ``/metrics``), for the same time, in the same run. Writes ``reports/bench/serve.json``: one row per
concurrency with ``concurrency``, ``requests_per_s``, ``p50_ms``, ``p95_ms``, ``p99_ms``, ``errors``,
``rss_mb_start``, ``rss_mb_end``, ``mean_batch``, ``in_process_per_s``, ``ratio`` (requests_per_s /
in_process_per_s), the CPU milliseconds per request of the server and of the load generator, the in-process CPU
milliseconds per text, ``cpu_ratio`` (in-process CPU per text / server CPU per request: the ratio the server would
reach were both sides bound by CPU alone, on equal cores), the load average, the torch intra-op threads of both
sides (``PIPELINE_NUM_THREADS``, 1 unless set), and the ``runtime`` (``SERVE_RUNTIME``: ``torch``, default, or
``onnx`` / ``onnx-int8``, which runs the export stage first and serves its file), and the ``client``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, save, table

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # as the CLI does unless -v

sys.path.insert(0, str(REPO))

DOCS = int(os.environ.get("SERVE_DOCS", 400))
EPOCHS = int(os.environ.get("SERVE_EPOCHS", 2))
SECONDS = float(os.environ.get("SERVE_SECONDS", 10))
CONCURRENCY = (1, 8, 32)
MAX_WAIT_MS = os.environ.get("SERVE_MAX_WAIT_MS")  # the micro-batcher's wait (default: params.yaml's serve.max_wait_ms)
CLIENT = os.environ.get("SERVE_CLIENT", "raw")  # or httpx
RUNTIME = os.environ.get("SERVE_RUNTIME", "torch")  # or onnx / onnx-int8: the export stage's files, both sides
ARCH = os.environ.get("SERVE_ARCH", "gru")  # another network of the train stage (e.g. transformer): serve_<arch>.json


def prepare(root: Path) -> Any:
    """Preprocess, train a GRU, evaluate, register; the params."""
    from pipeline.config import load_params
    from pipeline.data.preprocessing import preprocess
    from pipeline.serving.registration import register
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.train import train
    from tests.conftest import make_raw_docs, write_params, write_raw

    os.chdir(root)
    overrides = {
        "train.architectures": [ARCH],
        "tune.architectures": [],
        "train.max_epochs": EPOCHS,
        "train.patience": EPOCHS,
        "evaluate.bootstrap_resamples": 20,
        "evaluate.explain_documents": 0,
        **({"serve.max_wait_ms": float(MAX_WAIT_MS)} if MAX_WAIT_MS is not None else {}),
    }
    write_params(root / "params.yaml", overrides)
    write_raw(root, make_raw_docs(DOCS))
    params = load_params()
    preprocess(params)
    train(params, ARCH)
    evaluate(params)
    register(params)
    if RUNTIME != "torch":
        from pipeline.stages.export import export

        export(params)
    return params


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def summary(latencies: list[float], errors: int, elapsed: float) -> dict[str, Any]:
    ms = sorted(1000 * s for s in latencies)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else ms * 99
    return {"requests": len(ms) + errors, "requests_per_s": round(len(ms) / elapsed, 1), "p50_ms": round(q[49], 2),
            "p95_ms": round(q[94], 2), "p99_ms": round(q[98], 2), "errors": errors}  # fmt: skip


async def raw_closed_loop(port: int, texts: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
    """``concurrency`` keep-alive connections, each one pre-encoded request at a time, for ``seconds``."""
    import orjson

    head = (
        "POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n"
    )
    bodies = [orjson.dumps({"texts": [t]}) for t in texts]
    requests = [head.format(len(b)).encode("ascii") + b for b in bodies]
    latencies: list[float] = []
    errors = 0

    async def worker(k: int, until: float, record: bool) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while time.perf_counter() < until:
                start = time.perf_counter()
                writer.write(requests[i % len(requests)])
                header = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line[15:]) for line in header.split(b"\r\n") if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                ok = header.startswith(b"HTTP/1.1 200") and len(orjson.loads(body)["predictions"]) == 1
                if record:
                    latencies.append(time.perf_counter() - start) if ok else None
                    errors += not ok
                i += concurrency
        finally:
            writer.close()

    warm = time.perf_counter() + 1.0
    await asyncio.gather(*(worker(k, warm, False) for k in range(concurrency)))
    start = time.perf_counter()
    await asyncio.gather(*(worker(k, start + seconds, True) for k in range(concurrency)))
    return summary(latencies, errors, time.perf_counter() - start)


async def closed_loop(port: int, texts: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
    """``concurrency`` clients, each one request at a time, for ``seconds``: latencies and errors."""
    if CLIENT == "raw":
        return await raw_closed_loop(port, texts, concurrency, seconds)
    import httpx2

    url = f"http://127.0.0.1:{port}/v1/classify"
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx2.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(k: int, until: float, record: bool) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < until:
                start = time.perf_counter()
                try:
                    resp = await client.post(url, json={"texts": [texts[i % len(texts)]]})
                    ok = resp.status_code == 200 and len(resp.json()["predictions"]) == 1
                except httpx2.HTTPError:
                    ok = False
                if record:
                    latencies.append(time.perf_counter() - start) if ok else None
                    errors += not ok
                i += concurrency

        warm = time.perf_counter() + 1.0
        await asyncio.gather(*(worker(k, warm, False) for k in range(concurrency)))
        start = time.perf_counter()
        await asyncio.gather(*(worker(k, start + seconds, True) for k in range(concurrency)))
        elapsed = time.perf_counter() - start
    return summary(latencies, errors, elapsed)


def in_process(model: Any, texts: list[str], batch: int, seconds: float) -> tuple[float, float]:
    """Texts per second through ``model.classify`` in batches of ``batch``, and CPU ms per text."""
    model.classify(texts[:batch])  # warm-up
    done, i, start, cpu = 0, 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        chunk = [texts[(i + j) % len(texts)] for j in range(batch)]
        model.classify(chunk)
        done, i = done + batch, i + batch
    return done / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / done


def main() -> None:
    logging.disable(logging.WARNING)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    # one intra-op thread on both sides (the server inherits it): with two, the in-process figure swung 10x
    # between runs on the shared 2-core development machine
    os.environ.setdefault("PIPELINE_NUM_THREADS", "1")
    import json

    import psutil

    from pipeline.runtime import apply_thread_policy
    from pipeline.serving.loading import load_served
    from tests.serve_helpers import start_serve

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        params = prepare(root)
        lines = (root / "data/processed/test.jsonl").read_text(encoding="utf-8").splitlines()
        texts = [json.loads(line)["text"] for line in lines]
        server = start_serve(root, root / "server.log", "--runtime", RUNTIME)
        try:
            server.wait("/ready")
            proc = psutil.Process(server.proc.pid)
            apply_thread_policy()  # as the server does
            model = load_served("", params, RUNTIME)
            for concurrency in CONCURRENCY:
                before = server.request("GET", "/metrics")[1]
                rss_start = proc.memory_info().rss / 2**20
                cpu = sum(proc.cpu_times()[:2]), sum(psutil.Process().cpu_times()[:2])
                row = asyncio.run(closed_loop(server.port, texts, concurrency, SECONDS))
                rss_end = proc.memory_info().rss / 2**20
                server_cpu = sum(proc.cpu_times()[:2]) - cpu[0]
                client_cpu = sum(psutil.Process().cpu_times()[:2]) - cpu[1]
                after = server.request("GET", "/metrics")[1]
                calls = metric(after, "serve_batch_size_count") - metric(before, "serve_batch_size_count")
                sizes = metric(after, "serve_batch_size_sum") - metric(before, "serve_batch_size_sum")
                mean_batch = sizes / calls if calls else 1.0
                per_s, cpu_per_text = in_process(model, texts, max(1, round(mean_batch)), min(SECONDS, 5.0))
                server_ms = 1000 * server_cpu / max(1, row["requests"])
                rows.append({"concurrency": concurrency, **row, "rss_mb_start": round(rss_start, 1),
                             "rss_mb_end": round(rss_end, 1), "mean_batch": round(mean_batch, 2),
                             "in_process_per_s": round(per_s, 1),
                             "ratio": round(row["requests_per_s"] / per_s, 3),
                             "server_cpu_ms_per_request": round(server_ms, 3),
                             "in_process_cpu_ms_per_text": round(cpu_per_text, 3),
                             "cpu_ratio": round(cpu_per_text / server_ms, 3) if server_ms else None,
                             "client_cpu_ms_per_request": round(1000 * client_cpu / max(1, row["requests"]), 2),
                             "load_average_1m": round(os.getloadavg()[0], 2),
                             "threads": int(os.environ["PIPELINE_NUM_THREADS"]), "runtime": RUNTIME,
                             "client": CLIENT, "arch": ARCH})  # fmt: skip
                print(rows[-1], flush=True)
        finally:
            server.stop()
    name = ("serve" if RUNTIME == "torch" else f"serve_{RUNTIME}") + ("" if ARCH == "gru" else f"_{ARCH}")
    path = save(name if MAX_WAIT_MS is None else f"{name}_wait{MAX_WAIT_MS}ms", rows)
    for r in rows:
        table([(f"c={r['concurrency']}", f"{r['requests_per_s']} req/s (in-process {r['in_process_per_s']}/s, "
                f"ratio {r['ratio']}), p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, errors {r['errors']}, "
                f"batch {r['mean_batch']}, rss {r['rss_mb_start']}→{r['rss_mb_end']} MB")])  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
