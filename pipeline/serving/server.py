"""``python -m pipeline serve [--host H] [--port N] [--model URI|FOLDER]``: the HTTP API under uvicorn.

Serves ``models:/<registry.model_name>@<registry.alias>`` by default (``serve.model`` or ``--model``: another
alias, ``models:/<name>/<version>``, or a model folder such as ``models/gru``). Limits come from the ``serve``
section of ``params.yaml``. Endpoints: ``POST /v1/classify``, ``POST /v1/explain``, ``POST /v1/generate`` (the
language models in ``models/lm/``), ``GET /health``, ``GET /ready``, ``GET /metrics``; OpenAPI docs at ``/docs``.
"""

from __future__ import annotations

import os

from pipeline import cli
from pipeline.config import load_params


def main() -> None:
    args = cli.parser(__doc__)
    args.add_argument("--host", help="interface (default: serve.host)")
    args.add_argument("--port", type=int, help="TCP port (default: serve.port)")
    args.add_argument("--model", help="models:/ URI or model folder (default: serve.model, else the registry alias)")
    ns = args.parse_args()
    params = load_params()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import uvicorn

    from pipeline.runtime import apply_thread_policy

    apply_thread_policy()  # one inter-op thread; intra-op: the cores, or $PIPELINE_NUM_THREADS
    from pipeline.serving.app import create_app
    from pipeline.serving.loading import load_served

    spec = ns.model if ns.model is not None else params.serve.model
    model = load_served(spec, params)  # before the port opens: a bad --model is a one-line error, exit 2
    from pipeline.serving.generation import Generator

    app = create_app(lambda: model, params.serve, Generator(params))
    host = ns.host or params.serve.host
    port = ns.port if ns.port is not None else params.serve.port
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info", log_config=None)
