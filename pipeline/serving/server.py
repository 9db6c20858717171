"""``python -m pipeline serve [--host H] [--port N] [--model URI|FOLDER] [--runtime R]``: the HTTP API under uvicorn.

Serves ``models:/<registry.model_name>@<registry.alias>`` by default (``serve.model`` or ``--model``: another
alias, ``models:/<name>/<version>``, or a model folder such as ``models/gru``). Limits come from the ``serve``
section of ``params.yaml``. ``--runtime onnx`` (or ``onnx-int8``) answers with ONNX Runtime on the export stage's
``<models_dir>/export/<arch>/model.onnx`` (``model.int8.onnx``), with the model's own preprocessing.
Endpoints: ``POST /v1/classify``, ``POST /v1/explain``, ``POST /v1/generate`` (the language models in
``models/lm/``), ``GET /health``, ``GET /ready``, ``GET /metrics``; OpenAPI docs at ``/docs``.
"""

from __future__ import annotations

import os

from pipeline import cli
from pipeline.config import load_params
from pipeline.serving.loading import RUNTIMES


def main() -> None:
    args = cli.parser(__doc__)
    args.add_argument("--host", help="interface (default: serve.host)")
    args.add_argument("--port", type=int, help="TCP port (default: serve.port)")
    args.add_argument("--model", help="models:/ URI or model folder (default: serve.model, else the registry alias)")
    args.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="torch",
        help="torch (default), or the export stage's ONNX file of the model's architecture: onnx (fp32), onnx-int8",
    )
    ns = args.parse_args()
    params = load_params()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import uvicorn

    from pipeline.runtime import apply_thread_policy

    apply_thread_policy()  # one inter-op thread; intra-op: the cores, or $PIPELINE_NUM_THREADS
    from pipeline.serving.app import create_app
    from pipeline.serving.loading import load_served

    spec = ns.model if ns.model is not None else params.serve.model
    model = load_served(spec, params, ns.runtime)  # before the port opens: a bad --model is a one-line error, exit 2
    from pipeline.serving.generation import Generator

    app = create_app(lambda: model, params.serve, Generator(params))
    host = ns.host or params.serve.host
    port = ns.port if ns.port is not None else params.serve.port
    # httptools' parser and uvloop: less CPU per request than h11 and asyncio's loop (bench/bench_serve.py)
    uvicorn.run(
        app, host=host, port=port, access_log=False, log_level="info", log_config=None, http="httptools", loop="uvloop"
    )
