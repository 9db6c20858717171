"""DVC remotes: `make push` from a project, `git clone` + `make pull` elsewhere restores every output and the MLflow
registry, and `dvc status`/`dvc repro` then have nothing to do. The default remote (the repo's real
`.dvc/config`: a folder beside the checkout) and S3 (moto's server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.s3_server import s3_server

BIN = Path(sys.executable).parent
MODEL = "tiny-classifier"
STAGE_SCRIPT = """\
import json, pathlib, sys
stage = sys.argv[1]
if stage == "scrape":
    seeds = pathlib.Path("inputs/seeds.txt").read_text(encoding="utf-8").split()
    pathlib.Path("data/raw").mkdir(parents=True, exist_ok=True)
    docs = "".join(json.dumps({"url": s, "text": "نص " + s}, ensure_ascii=False) + "\\n" for s in seeds)
    pathlib.Path("data/raw/docs.jsonl").write_text(docs, encoding="utf-8")
else:
    docs = pathlib.Path("data/raw/docs.jsonl").read_text(encoding="utf-8").splitlines()
    pathlib.Path("models/clf").mkdir(parents=True, exist_ok=True)
    pathlib.Path("models/clf/weights.bin").write_bytes(bytes(range(len(docs))))
    pathlib.Path("reports/figures").mkdir(parents=True, exist_ok=True)
    pathlib.Path("reports/figures/a.png").write_bytes(b"png" * len(docs))
    pathlib.Path("reports/report.html").write_text(f"<p>{len(docs)} documents</p>", encoding="utf-8")
    pathlib.Path("reports/registry.json").write_text(json.dumps({"decision": "first"}), encoding="utf-8")
"""
DVC_YAML = {
    "stages": {
        "scrape": {"cmd": "python stage.py scrape", "deps": ["inputs/seeds.txt", "stage.py"], "outs": ["data/raw"]},
        "report": {
            "cmd": "python stage.py report",
            "deps": ["data/raw", "stage.py"],
            "outs": [
                "models/clf",
                "reports/report.html",
                "reports/figures",
                {"reports/registry.json": {"cache": False}},
            ],
        },
    }
}
MLFLOW_SCRIPT = f"""\
import mlflow
from mlflow import MlflowClient
mlflow.set_tracking_uri("sqlite:///mlflow.db")
mlflow.set_experiment("e")
with mlflow.start_run() as run:
    mlflow.log_text("champion weights", "model/weights.txt")
client = MlflowClient()
client.create_registered_model("{MODEL}")
version = client.create_model_version("{MODEL}", f"{{run.info.artifact_uri}}/model", run_id=run.info.run_id)
client.set_registered_model_alias("{MODEL}", "champion", version.version)
"""
READ_CHAMPION = f"""\
import json, mlflow
from mlflow import MlflowClient
mlflow.set_tracking_uri("sqlite:///mlflow.db")
version = MlflowClient().get_model_version_by_alias("{MODEL}", "champion")
path = mlflow.artifacts.download_artifacts(f"models:/{MODEL}@champion")
print(json.dumps({{"version": str(version.version), "text": open(path + "/weights.txt").read()}}))
"""


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "DVC_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(REPO),
        DVC_NO_ANALYTICS="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )
    env.update(extra or {})
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _make(proj: Path, target: str, stamp: Path, env: dict[str, str] | None = None, **variables: str) -> str:
    """A Makefile target with this interpreter's venv (``setup`` already satisfied by ``stamp``)."""
    args = ["make", "--no-print-directory", "-C", str(proj), target, f"VENV={BIN.parent}", f"STAMP={stamp}"]
    return _run(args + [f"{k}={v}" for k, v in variables.items()], proj, env)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for sub in ("data", "models", "reports")
        for p in sorted((root / sub).rglob("*"))
        if p.is_file() and p.name != ".gitignore"
    }


def _project(parent: Path) -> tuple[Path, Path]:
    """A small DVC project with the repo's real .dvc/config, Makefile and params.yaml: repro'd, committed, with a
    real MLflow store holding a registered champion. Returns (project, make stamp)."""
    proj = parent / "proj"
    (proj / ".dvc").mkdir(parents=True)
    for rel in (".dvc/config", ".dvc/.gitignore", "Makefile", "params.yaml", "requirements.lock", "pyproject.toml"):
        shutil.copy2(REPO / rel, proj / rel)
    (proj / ".gitignore").write_text("mlflow.db\nmlruns/\noptuna.db\n/data/scrape-state\n", encoding="utf-8")
    (proj / "inputs").mkdir()
    (proj / "inputs/seeds.txt").write_text("a\nb\nc\n", encoding="utf-8")
    (proj / "stage.py").write_text(STAGE_SCRIPT, encoding="utf-8")
    (proj / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False), encoding="utf-8")
    stamp = parent / "stamp"
    stamp.touch()
    _run(["git", "init", "-q"], proj)
    _run([str(BIN / "dvc"), "repro"], proj)
    _run([sys.executable, "-c", MLFLOW_SCRIPT], proj)
    _run(["git", "add", "-A"], proj)
    _run(["git", "commit", "-qm", "repro"], proj)
    return proj, stamp


def _assert_restored(proj: Path, clone: Path, env: dict[str, str] | None = None) -> None:
    assert _files(clone) == _files(proj) and "reports/figures/a.png" in _files(clone)
    status = _run([str(BIN / "dvc"), "status"], clone, env)
    assert "up to date" in status, status
    repro = _run([str(BIN / "dvc"), "repro"], clone, env)
    assert "Running stage" not in repro and "up to date" in repro, repro
    shutil.rmtree(proj / "mlruns")  # the clone's registry must read its own artifacts, not the project's
    champion = json.loads(_run([sys.executable, "-c", READ_CHAMPION], clone, env).strip().splitlines()[-1])
    assert champion == {"version": "1", "text": "champion weights"}


def test_repo_default_remote_is_a_folder_beside_the_checkout():
    config = _run([str(BIN / "dvc"), "config", "--list", "--project"], REPO)
    assert "core.remote=local" in config
    listed = _run([str(BIN / "dvc"), "remote", "list", "--project"], REPO)  # not a developer's config.local
    url = next(line.split()[1] for line in listed.splitlines() if line.startswith("local"))
    assert Path(url) == REPO.parent / "arabic-ml-pipeline-dvc-store"
    assert "s3://" in listed


def test_every_output_is_committed_to_git_or_cached_for_the_remote():
    """An output with ``cache: false`` is not pushed, so git must hold it; a cached one must be ignored by git."""
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        outs = [(str(Path(o.fs_path).relative_to(REPO)), o.use_cache) for o in repo.index.outs]
    assert len(outs) > 20
    asked = [form for path, _ in outs for form in (path, path + "/")]  # a folder out may not exist here
    answer = subprocess.run(["git", "check-ignore", "--no-index", *asked], cwd=REPO, capture_output=True, text=True)
    ignored = {line.rstrip("/") for line in answer.stdout.split()}
    wrong = [f"{p}: cache: false but git ignores it" for p, cached in outs if not cached and p in ignored]
    wrong += [f"{p}: cached by DVC but not ignored by git" for p, cached in outs if cached and p not in ignored]
    assert not wrong, wrong


@pytest.mark.slow
def test_push_then_pull_into_a_fresh_clone_runs_nothing(tmp_path):
    proj, stamp = _project(tmp_path)
    (proj / "data/scrape-state").mkdir()
    (proj / "data/scrape-state/journal.jsonl").write_text('{"url": "a"}\n', encoding="utf-8")
    out = _make(proj, "push", stamp)
    store = tmp_path / "arabic-ml-pipeline-dvc-store"  # the default remote: ../arabic-ml-pipeline-dvc-store
    assert (store / "files" / "md5").is_dir() and (store / "run-state" / "mlflow.tar.gz").is_file(), out
    assert (store / "run-state" / "journal.tar.gz").is_file()
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(proj), str(clone)], tmp_path)
    assert not (clone / "models/clf").exists() and not (clone / "mlflow.db").exists()
    out = _make(clone, "pull", stamp)
    assert "restored mlflow" in out and "restored journal" in out, out
    assert (clone / "data/scrape-state/journal.jsonl").read_text(encoding="utf-8") == '{"url": "a"}\n'
    _assert_restored(proj, clone)
    # a finished crawl leaves no journal: the next push removes the remote's, so no later run resumes it
    shutil.rmtree(clone / "data/scrape-state")
    assert "removed journal" in _make(clone, "push", stamp)
    assert not (store / "run-state" / "journal.tar.gz").exists()
    # a checkout without an MLflow store never wipes the remote's
    shutil.rmtree(clone / "mlruns")
    (clone / "mlflow.db").unlink()
    (clone / "optuna.db").unlink(missing_ok=True)
    assert "mlflow: nothing to push" in _make(clone, "push", stamp)
    assert (store / "run-state" / "mlflow.tar.gz").is_file()


@pytest.mark.slow
def test_s3_remote_against_a_real_s3_api_server(tmp_path):
    proj, stamp = _project(tmp_path)
    with s3_server(bucket="dvc-remote") as s3:
        env = _env(s3.env)
        remote = {"DVC_REMOTE": "s3", "DVC_S3_URL": "s3://dvc-remote/pipeline", "DVC_S3_ENDPOINT": s3.endpoint}
        _make(proj, "push", stamp, env, **remote)
        keys = s3.keys("pipeline/")
        assert "pipeline/run-state/mlflow.tar.gz" in keys
        assert sum(k.startswith("pipeline/files/md5/") for k in keys) >= 5  # docs, weights, figure, html, dir manifests
        assert not (tmp_path / "arabic-ml-pipeline-dvc-store").exists()  # nothing went to the default remote
        clone = tmp_path / "clone"
        _run(["git", "clone", "-q", str(proj), str(clone)], tmp_path)
        _make(clone, "pull", stamp, env, **remote)
        _assert_restored(proj, clone, env)


def test_pull_keeps_a_local_store_and_reports_a_bad_remote(tmp_path):
    """``ops.state pull`` never overwrites local files; an unknown remote is one line, no traceback."""
    proj = tmp_path / "proj"
    (proj / ".dvc").mkdir(parents=True)
    shutil.copy2(REPO / ".dvc/config", proj / ".dvc/config")
    shutil.copy2(REPO / "params.yaml", proj / "params.yaml")
    _run(["git", "init", "-q"], proj)
    (proj / "mlflow.db").write_bytes(b"local")
    store = tmp_path / "arabic-ml-pipeline-dvc-store" / "run-state"
    store.mkdir(parents=True)
    (store / "mlflow.tar.gz").write_bytes(b"not a tarball")
    out = _run([sys.executable, "-m", "ops.state", "pull"], proj)
    assert "kept the local mlflow.db" in out and (proj / "mlflow.db").read_bytes() == b"local"
    bad = subprocess.run(
        [sys.executable, "-m", "ops.state", "pull", "-r", "nosuch"],
        cwd=proj,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.count("\n") == 1 and "nosuch" in bad.stderr, bad.stderr
    broken = subprocess.run(
        [sys.executable, "-m", "ops.state", "pull", "--force"], cwd=proj, env=_env(), capture_output=True, text=True
    )
    assert broken.returncode == 1 and "run-state/mlflow.tar.gz" in broken.stderr and "Traceback" not in broken.stderr


def test_rewrite_paths_moves_only_whole_folder_prefixes(tmp_path):
    import sqlite3

    from ops.state import rewrite_paths

    db = tmp_path / "m.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE runs (artifact_uri VARCHAR(200), n INTEGER)")
        rows = ["/old/proj/mlruns/1/a", "file:///old/proj/mlruns/2", "/old/project/mlruns", "/old/proj", "x"]
        conn.executemany("INSERT INTO runs VALUES (?, 1)", [(r,) for r in rows])
    assert rewrite_paths(db, "/old/proj", "/new/clone") == 3
    with sqlite3.connect(db) as conn:
        got = [r[0] for r in conn.execute("SELECT artifact_uri FROM runs")]
    assert got == ["/new/clone/mlruns/1/a", "file:///new/clone/mlruns/2", "/old/project/mlruns", "/new/clone", "x"]


def test_gate_summary_names_the_decision_and_fails_without_one(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    summary_file = tmp_path / "step-summary.md"
    env = _env({"GITHUB_STEP_SUMMARY": str(summary_file)})
    cmd = [sys.executable, "-m", "ops.summary", "--reports", str(reports), "--out", str(tmp_path / "body.md")]
    missing = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert missing.returncode == 1 and "no decision" in missing.stdout
    registry = {
        "name": "m",
        "alias": "champion",
        "decision": "kept",
        "reason": "challenger worse: McNemar p=0.01",
        "champion_version": "2",
        "challenger_version": "3",
        "alias_version": "2",
        "arch": "lstm",
        "metrics": {"test/f1_macro": 0.5, "test/f1_macro_ci_low": 0.4, "test/f1_macro_ci_high": 0.6},
    }
    (reports / "registry.json").write_text(json.dumps(registry), encoding="utf-8")
    failed = {"passed": False, "checks": {"min_arabic_share": {"passed": False, "message": "share 0.10 < 0.5"}}}
    (reports / "data_checks.json").write_text(json.dumps(failed), encoding="utf-8")
    ok = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    body = (tmp_path / "body.md").read_text(encoding="utf-8")
    assert "**Gate: kept**: challenger worse: McNemar p=0.01" in body
    assert "| `@champion` now | version 2 |" in body and "0.5000 (95% CI 0.4000–0.6000)" in body
    assert "Data checks: **failed**" in body and "min_arabic_share: share 0.10 < 0.5" in body
    assert summary_file.read_text(encoding="utf-8") == textwrap.dedent(missing.stdout) + body  # appended twice
