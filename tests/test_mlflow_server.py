"""A shared tracking server: ``mlflow server`` on a real PostgreSQL backend store with its artifacts in S3 (a moto
S3 API server) or in a folder. The stages run as a team member runs them (``python -m pipeline <stage>`` with
``MLFLOW_TRACKING_URI`` pointing at the server); the client then finds the runs, their artifacts (in the
bucket or folder) and the registered version behind the alias."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import load_params
from tests.conftest import REPO, make_raw_docs, write_params, write_raw
from tests.mlflow_server import mlflow_server
from tests.pg_server import create_database, pg_server
from tests.s3_server import s3_server

pytestmark = pytest.mark.distributed

OVERRIDES = {
    "train.architectures": ["tfidf_linear"],
    "tune.architectures": [],
    "finetune.architectures": [],
    "preprocess.min_token_freq": 1,
    "evaluate.bootstrap_resamples": 50,
    "evaluate.explain_documents": 0,
    "evaluate.examples": 0,
    "evaluate.confident_errors": 0,
}
BUCKET = "mlflow-artifacts"


def stage(root: Path, tracking: str, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": tracking, "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{args}: {done.stderr[-3000:]}"


@pytest.mark.parametrize("store", ["s3", "folder"])
def test_stages_track_and_register_on_a_shared_server(tmp_path, monkeypatch, store):
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    write_params(tmp_path / "params.yaml", OVERRIDES)
    write_raw(tmp_path, make_raw_docs(132))
    params = load_params()
    with pg_server("postgres_probe") as pg_url, s3_server(BUCKET) as s3:
        backend = create_database(pg_url, "mlflow")
        artifacts = f"s3://{BUCKET}/team" if store == "s3" else str(tmp_path / "artifact-store")
        log = tmp_path / "mlflow-server.log"
        with mlflow_server(backend, artifacts, log, s3.endpoint if store == "s3" else None) as url:
            for args in (("preprocess",), ("train", "tfidf_linear"), ("evaluate",), ("register",)):
                stage(tmp_path, url, *args)
            client = mlflow.MlflowClient(url)
            experiment = client.get_experiment_by_name(params.base.mlflow_experiment)
            assert experiment is not None and experiment.artifact_location.startswith("mlflow-artifacts:")
            runs = client.search_runs([experiment.experiment_id])
            names = {r.info.run_name for r in runs}
            assert {"train-tfidf_linear", "register-tfidf_linear"} <= names, names
            assert all(r.info.status == "FINISHED" for r in runs), [(r.info.run_name, r.info.status) for r in runs]
            version = client.get_model_version_by_alias(params.registry.model_name, params.registry.alias)
            assert version.version == "1"
            (train_run,) = [r for r in runs if r.info.run_name == "train-tfidf_linear"]
            assert client.list_artifacts(train_run.info.run_id)  # the training's files went through the server
            monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
            mlflow.set_tracking_uri(url)
            uri = f"models:/{params.registry.model_name}@{params.registry.alias}"
            model = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "downloaded")))
            assert (model / "MLmodel").is_file(), sorted(p.name for p in model.iterdir())
        if store == "s3":  # the bytes are in the bucket, not on the server's disk
            keys = s3.keys()
            assert any(k.startswith("team/") and k.endswith("MLmodel") for k in keys), keys[:20]
        else:
            assert list((tmp_path / "artifact-store").rglob("MLmodel"))
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()  # nothing tracked locally
