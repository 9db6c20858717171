"""Servers for tests of a shared tracking set-up: an S3 API server (moto, in this process) and ``mlflow server``
(a subprocess in its own process group, killed as a group), both on 127.0.0.1 at free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.pg_server import free_port

# dummy credentials and the checksum settings S3-compatible servers need with recent boto3
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
}


@contextmanager
def s3_server(bucket: str) -> Iterator[str]:
    """A moto S3 server holding an empty ``bucket``; yields its endpoint URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, **_creds())
        s3.create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.stop()


def _creds() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


def s3_keys(endpoint: str, bucket: str) -> list[str]:
    """Every object key in ``bucket``."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, **_creds())
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


@contextmanager
def mlflow_server(backend: str, artifacts: str, log: Path, s3_endpoint: str | None = None) -> Iterator[str]:
    """``mlflow server`` with ``backend`` (a database URL) and ``--artifacts-destination artifacts`` (a folder or
    ``s3://bucket/prefix``; clients upload through the server); yields its URL once ``/health`` answers."""
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    if s3_endpoint:
        env.update(S3_ENV, MLFLOW_S3_ENDPOINT_URL=s3_endpoint)
    cmd = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", backend, "--artifacts-destination", artifacts),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    url = f"http://127.0.0.1:{port}"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({proc.returncode}): {log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"mlflow server did not answer /health in 180 s: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL what is left after 30 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:  # the leader is gone: its workers may linger in the group
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        break
