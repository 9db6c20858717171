"""Start a real HTTP server in its own process group on 127.0.0.1, wait for it, call it, stop it (tests, bench)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        """``(status, JSON or text)``; ``body`` is sent as JSON, ``raw`` as it is."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            data = raw if raw is not None else None if body is None else json.dumps(body).encode("utf-8")
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            resp = conn.getresponse()
            text = resp.read().decode("utf-8")
            if "json" in resp.getheader("Content-Type", "") and text.strip():  # mlflow's /ping: JSON type, "\n"
                return resp.status, json.loads(text)
            return resp.status, text
        finally:
            conn.close()

    def wait(self, path: str, timeout: float = 120) -> None:
        """Poll ``path`` until it answers 200 (the process dying or the time running out fails)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if self.request("GET", path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"{path} not ready in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Kill the whole process group (mlflow models serve starts workers)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def start(args: list[str], cwd: Path, log: Path, port: int, env: dict[str, str] | None = None) -> Server:
    """``python <args>`` in ``cwd`` (this checkout's code first on the path), output to ``log``."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # the venv's uvicorn, mlflow
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": path, "MLFLOW_DISABLE_TELEMETRY": "true"}
    full_env.pop("MLFLOW_TRACKING_URI", None)
    full_env.update(env or {})
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(proc, port, log)


def start_serve(cwd: Path, log: Path, *extra: str) -> Server:
    """``python -m pipeline serve --port <free> [extra]`` in the project ``cwd``."""
    port = free_port()
    return start(["-m", "pipeline", "serve", "--port", str(port), *extra], cwd, log, port)
