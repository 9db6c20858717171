"""``mlflow server`` for tests of a shared tracking set-up: a subprocess in its own process group (killed as a group)
on 127.0.0.1 at a free port; its S3 artifact store is ``tests.s3_server``."""

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
from tests.s3_server import ENV as S3_ENV


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
