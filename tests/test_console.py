"""Issue #19: a quiet console. No per-request Scrapy lines or banner, no Lightning tips or device lines, no
deprecation or MLflow warnings by default; ``-v``/``LOG_LEVEL`` for more; an epoch bar only on a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, make_raw_docs, write_params, write_raw

TINY_TRAIN = {
    "train.architectures": ["lstm"],
    "train.max_epochs": 2,
    "preprocess.min_token_freq": 1,
    "preprocess.split.near_duplicates": False,
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "LOG_LEVEL")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def _stage(cwd: Path, *args: str, stdout: int | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        env=_env(**env),
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
    )


def test_scrape_is_quiet_by_default_and_says_more_with_v(tmp_path):
    write_params(tmp_path / "params.yaml", {"scrape.max_pages": 30})
    proc = _stage(tmp_path, "scrape")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    assert not [line for line in lines if " DEBUG " in line]
    for banner in ("Scrapy", "Versions", "Overridden settings", "Enabled extensions", "Dumping Scrapy stats"):
        assert banner not in proc.stderr
    assert len(lines) <= 4, proc.stderr  # the demo site's address, the result, maybe a missing optional input
    assert "(closespider_pagecount)" in proc.stderr  # the stage's own summary line
    proc = _stage(tmp_path, "scrape", "-v")
    assert proc.returncode == 0
    assert "scrapy.core.engine INFO Spider opened" in proc.stderr
    assert not [line for line in proc.stderr.splitlines() if " DEBUG " in line]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("console")
    write_params(root / "params.yaml", TINY_TRAIN)
    write_raw(root, make_raw_docs(60))
    assert _stage(root, "preprocess").returncode == 0
    return root


def test_a_fit_without_a_terminal_prints_one_line(project):
    proc = _stage(project, "train", "lstm")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "run_record INFO lstm: best epoch" in lines[0], proc.stderr
    for noise in ("Epoch", "━", "GPU available", "litlogger", "Seed set", "deprecated", "Warning"):
        assert noise not in proc.stderr


def test_v_shows_lightnings_lines_and_log_level_warning_silences_the_stage(project):
    proc = _stage(project, "train", "lstm", "-v")
    assert proc.returncode == 0 and "GPU available" in proc.stderr and "Epoch" not in proc.stderr
    proc = _stage(project, "train", "lstm", LOG_LEVEL="warning")
    assert proc.returncode == 0 and proc.stderr == ""


def test_a_fit_on_a_terminal_shows_the_epoch_bar_with_the_monitored_metric(project):
    import threading

    leader, follower = os.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = _stage(project, "train", "lstm", stdout=follower, COLUMNS="120")
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bar = b"".join(chunks).decode("utf-8", "replace")
    assert "Epoch" in bar and "val/f1_macro" in bar, bar[-2000:]
    # the bar is on the terminal; stderr keeps the log line only
    assert "run_record INFO lstm" in proc.stderr and "Epoch" not in proc.stderr


def test_bad_log_level_is_a_one_line_error(project):
    proc = _stage(project, "check", LOG_LEVEL="loud")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    allowed = "allowed: DEBUG, INFO, WARNING, ERROR"
    assert proc.stderr.strip() == f"error: environment LOG_LEVEL='loud' is not a level; {allowed}"


def test_the_pyfunc_model_imports_without_mlflow_warnings():
    proc = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import pipeline.serving.pyfunc"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == ""
