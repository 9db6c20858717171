"""End to end: a copy of the repo, the real `dvc repro` on a few demo pages, a real MLflow server."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from pipeline.training.run_record import RunRecord
from tests.conftest import REPO, write_params
from tests.snapshot import snapshot_repo

pytestmark = pytest.mark.slow
_PARAMS = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
ARCHS = _PARAMS["train"]["architectures"]
FINETUNED = _PARAMS["finetune"]["architectures"]
OVERRIDES = {
    "scrape.max_pages": 90,
    "train.max_epochs": 2,
    "train.patience": 2,
    "pretrain.max_epochs": 2,
    "finetune.max_epochs": 2,
    "finetune.patience": 2,
    "generate.train.max_epochs": 1,
    "generate.eval.continuation_docs": 5,
    "generate.eval.agreement_per_class": 2,
    "ensemble.enabled": _PARAMS["ensemble"]["enabled"],  # write_params turns it off for the unit tests
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true", PYTHONPATH=str(REPO))
    return env


def _run(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The repo's files (as git would commit them) in a fresh git repo, with tiny params."""
    proj = tmp_path_factory.mktemp("e2e") / "proj"
    proj.mkdir()
    snapshot_repo(REPO, proj, drop=("dvc.lock", "reports/metrics.json"))
    write_params(proj / "params.yaml", OVERRIDES)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "tiny params"], cwd=proj, check=True
    )
    proc = _run([str(Path(sys.executable).parent / "dvc"), "repro"], proj)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proj


def _dvc(proj: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([str(Path(sys.executable).parent / "dvc"), *args], proj, timeout=300)


def test_repro_produces_every_stage_output(project):
    for rel in (
        "data/raw/docs.jsonl",
        "data/processed/train.jsonl",
        "data/processed/vocab.json",
        "models/lstm/best.ckpt",
        "models/gru/run.json",
        "reports/eval/gru.json",
        "reports/report.html",
        "reports/report.md",
        "reports/scrape_stats.json",
        "models/lm/tokenizer/tokenizer.json",
        "models/lm/gpt2/run.json",
        "reports/generation/metrics.json",
        "reports/generation/samples.json",
        "reports/registry.json",
        "reports/eval/significance.json",
        "models/ensemble/ensemble.json",
        "reports/eval/ensemble.json",
        "dvc.lock",
    ):
        assert (project / rel).is_file(), rel
    raw = (project / "data/raw/docs.jsonl").read_text(encoding="utf-8").splitlines()
    assert 30 <= len(raw) < 90  # max_pages honoured
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert set(metrics) == set(ARCHS) | set(FINETUNED) | ({"ensemble"} if _PARAMS["ensemble"]["enabled"] else set())
    shown = json.loads(_dvc(project, "metrics", "show", "--json").stdout)
    assert "lstm" in json.dumps(shown) and "f1_macro" in json.dumps(shown)
    plots = json.loads(_dvc(project, "plots", "show", "--json").stdout)["data"]
    assert "reports/plots/curves/lstm.csv" in plots and "reports/plots/confusion/gru.csv" in plots
    assert "reports/plots/pr/lstm/positive.csv" in plots
    curve = plots["reports/plots/curves/lstm.csv"][0]["content"]["data"]["values"]
    assert len(curve) == json.loads((project / "models/lstm/run.json").read_text())["epochs_run"]


def test_second_repro_runs_nothing(project):
    before = {p: p.stat().st_mtime_ns for p in (project / "models").rglob("*") if p.is_file()}
    proc = _dvc(project, "repro")
    assert proc.returncode == 0
    assert "Running stage" not in proc.stdout and "up to date" in proc.stdout
    assert before == {p: p.stat().st_mtime_ns for p in (project / "models").rglob("*") if p.is_file()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_server_shows_one_run_per_architecture(project):
    port = _free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{project / 'mlflow.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=project,
        env={**_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
        exp = client.get_experiment_by_name("arabic-reviews")
        runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
        assert {"train-lstm", "train-gru"} <= set(runs)
        for arch in ("lstm", "gru"):
            run = runs[f"train-{arch}"]
            record = RunRecord.load(project / "models" / arch)  # its run id is in the run log, not in run.json
            assert run.info.run_id == record.mlflow_run_id
            assert "test/f1_macro" in run.data.metrics and "val/f1_macro" in run.data.metrics
            assert run.data.tags["git_commit"] != "unknown" and run.data.tags["arch"] == arch
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_fresh_clone_pulls_every_output_from_the_default_remote_and_runs_nothing(project):
    """`make push` to the default remote (a folder beside the project), `git clone` of the outputs' commit, `make
    pull`: every output and the MLflow store are back and DVC has nothing to run. The commit is made with a
    separate index on its own branch: the project's HEAD, index and files stay as they are."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    index_env = {**_env(), "GIT_INDEX_FILE": str(project.parent / "remote-test-index")}

    def git_out(*args: str, env: dict | None = None) -> str:
        proc = subprocess.run([*git, *args], cwd=project, env=env or _env(), capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    git_out("read-tree", "HEAD", env=index_env)
    git_out("add", "-A", env=index_env)
    commit = git_out("commit-tree", git_out("write-tree", env=index_env), "-p", "HEAD", "-m", "outputs")
    git_out("update-ref", "refs/heads/remote-test", commit)
    stamp = project.parent / "remote-test-stamp"
    stamp.touch()
    make = ["make", "--no-print-directory", "push", f"VENV={Path(sys.executable).parent.parent}", f"STAMP={stamp}"]
    push = _run(make, project)
    assert push.returncode == 0 and "pushed mlflow" in push.stdout, push.stdout[-3000:] + push.stderr[-3000:]
    assert (project.parent / "arabic-ml-pipeline-dvc-store" / "run-state" / "mlflow.tar.gz").is_file()
    clone = project.parent / "clone"
    subprocess.run(["git", "clone", "-q", "-b", "remote-test", str(project), str(clone)], check=True)
    pull = _run([*make[:2], "pull", *make[3:]], clone)
    assert pull.returncode == 0 and "restored mlflow" in pull.stdout, pull.stdout[-3000:] + pull.stderr[-3000:]
    for rel in ("models/lstm/best.ckpt", "reports/report.html", "reports/registry.json", "models/lm/gpt2/run.json"):
        assert (clone / rel).read_bytes() == (project / rel).read_bytes(), rel
    status = _dvc(clone, "status")
    assert "up to date" in status.stdout, status.stdout
    dry = _dvc(clone, "repro", "--dry")
    assert dry.returncode == 0 and "Running stage" not in dry.stdout, dry.stdout


def test_rerunning_stages_elsewhere_gives_the_same_bytes(project, tmp_path):
    """Forced re-runs of the stages from preprocessing to the report, in a copy at another path with a new MLflow
    store: every output is the same bytes (dvc.lock unchanged, git status clean), the run ids and timings having
    gone to the run log and MLflow. Registration is left out: a second version in the same store is a new fact.
    So is the crawl: with these tiny params it stops at ``scrape.max_pages``, and which pages make that cut
    depends on the order concurrent responses arrive (tests/test_scrape.py checks the whole site's bytes)."""
    copy = tmp_path / "elsewhere"
    shutil.copytree(project, copy, symlinks=True, ignore=shutil.ignore_patterns("mlflow.db", "mlruns", ".runs"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], cwd=copy, check=True)
    subprocess.run([*git, "commit", "-qm", "outputs"], cwd=copy, check=True)
    lock = (copy / "dvc.lock").read_text(encoding="utf-8")
    stages = ["preprocess", "tune@lstm", "train@lstm", "train@tfidf_linear", "evaluate", "export", "report"]
    proc = _dvc(copy, "repro", "-f", "-s", *stages)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sum(line.startswith("Running stage") for line in proc.stdout.splitlines()) == len(stages)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True).stdout
    assert status == "", status
    assert (copy / "dvc.lock").read_text(encoding="utf-8") == lock
    facts = json.loads((copy / ".runs" / "models" / "lstm" / "run.json").read_text(encoding="utf-8"))
    assert facts["mlflow_run_id"] and facts["train_time_s"] > 0  # the new run's facts, in its own run log
    # a clone has no models/registered.json (DVC-cached, not in git) and an empty registry: it registers again,
    # as version 1 like the project's first run, so registry.json is the same bytes too
    (copy / "models" / "registered.json").unlink()
    proc = _dvc(copy, "repro")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Running stage 'register'" in proc.stdout
    status = subprocess.run(["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True).stdout
    assert status == "" and (copy / "dvc.lock").read_text(encoding="utf-8") == lock, status


def test_changing_a_train_param_reruns_only_train_and_what_follows(project, tmp_path):
    """Retrains with another learning rate in a copy of the shared project (which the other tests read)."""
    from ops.state import rewrite_paths

    shared, project = project, shutil.copytree(project, tmp_path / "proj", symlinks=True)
    rewrite_paths(project / "mlflow.db", str(shared), str(project))  # the copy's runs keep their artifacts here
    raw = project / "data/raw/docs.jsonl"
    raw_mtime = raw.stat().st_mtime_ns
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "first experiment"], cwd=project, check=True)
    write_params(project / "params.yaml", {**OVERRIDES, "train.lr": 0.001})
    proc = _dvc(project, "repro")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ran = {line.split("'")[1] for line in proc.stdout.splitlines() if line.startswith("Running stage")}
    # tune@<arch> reads the train section too (fixed params shape the trials); it resumes its study, so it only
    # rewrites the same best params and the trainings are not re-triggered by them; generate follows too (its
    # agreement check uses the best classifier), and export (the retrained networks); the language models do not
    # retrain
    ran_expected = {f"train@{a}" for a in ARCHS} | {f"tune@{a}" for a in ARCHS}
    assert ran == ran_expected | {"ensemble", "evaluate", "export", "register", "report", "generate"}
    assert raw.stat().st_mtime_ns == raw_mtime
    # the two experiments side by side: every headline metric with its committed and its new value
    old = json.loads(subprocess.run(["git", "show", "HEAD:reports/metrics.json"], cwd=project, capture_output=True,
                                    text=True, check=True).stdout)  # fmt: skip
    new = json.loads((project / "reports/metrics.json").read_text())
    diff = json.loads(_dvc(project, "metrics", "diff", "--all", "--json").stdout)["reports/metrics.json"]
    for arch in ARCHS:
        for key in ("accuracy", "f1_macro"):
            assert diff[f"{arch}.{key}"]["old"] == old[arch][key] and diff[f"{arch}.{key}"]["new"] == new[arch][key]
