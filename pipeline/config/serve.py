"""The ``serve`` section: the HTTP API of ``python -m pipeline serve`` (not a DVC stage)."""

from __future__ import annotations

from pydantic import Field

from pipeline.config.base import Section


class ServeParams(Section):
    model: str = Field(
        "",
        description="What to serve: empty = models:/<registry.model_name>@<registry.alias>; or a models:/ URI "
        "(alias or version), or a model folder (models/<arch>).",
    )
    host: str = Field("127.0.0.1", min_length=1, description="Interface the server listens on.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port the server listens on.")
    max_texts: int = Field(64, ge=1, description="Most texts in one /v1/classify request (more: 413).")
    max_chars: int = Field(5000, ge=1, description="Most characters in one text (more: 413).")
    max_new_tokens: int = Field(
        200, ge=1, description="Most new tokens one /v1/generate request may ask for (more: 422)."
    )
    max_batch: int = Field(64, ge=1, description="Most texts the micro-batcher hands the model at once.")
    max_wait_ms: float = Field(
        0.0,
        ge=0,
        description="How long the micro-batcher waits for more requests after the first (milliseconds). 0: no "
        "wait; a batch is what queued while the model ran the previous one (bench_serve.py: at concurrency 1, "
        "485 against 128 requests/s with 5 ms; at 32 the same throughput).",
    )
    timeout_s: float = Field(30.0, gt=0, description="A request still unanswered after this is answered 504.")
