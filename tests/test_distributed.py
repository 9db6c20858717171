"""Distributed training: ``python -m pipeline train gru`` with ``train.strategy: ddp`` on two CPU processes
(gloo), and the device and precision choice of the fit (no GPU needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import ParamsError
from pipeline.training.distributed import global_rank
from pipeline.training.fit import PrecisionError, resolve_device
from pipeline.training.run_record import RunRecord
from tests.conftest import REPO, preprocessed_project

OVERRIDES = {
    "train.max_epochs": 2,
    "train.patience": 2,
    "train.hidden_dim": 8,
    "train.embedding_dim": 8,
    "train.batch_size": 16,
    "train.accelerator": "cpu",
    "train.devices": 2,
    "train.strategy": "ddp",
    "preprocess.min_token_freq": 1,
}


@pytest.mark.slow
@pytest.mark.distributed
def test_ddp_on_two_cpu_processes_writes_one_checkpoint_record_and_run(tmp_path: Path) -> None:
    with preprocessed_project(tmp_path, OVERRIDES, 96) as params:
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RANK", "LOCAL_RANK")}
        env.update(PYTHONPATH=str(REPO), PIPELINE_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", "train", "gru"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        print(done.stdout[-3000:], done.stderr[-3000:])
        assert done.returncode == 0, done.stderr[-3000:]
        for rank in (0, 1):  # Lightning re-ran the stage for rank 1 (pipeline/__main__.py: relaunched_argv)
            assert f"Initializing distributed: GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in done.stderr
        assert done.stderr.count("run_record INFO gru: best epoch") == 1  # one record, written by rank 0

        folder = tmp_path / "models" / "gru"
        assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt", "run.json"]
        assert not (tmp_path / params.train.state_dir / "gru").exists()  # rank 0 cleared the state
        record = RunRecord.load(folder).model_dump()  # with its run log: the MLflow run id
        assert record["world_size"] == 2 and record["device"] == "cpu" and record["precision"] == "32-true"
        assert record["epochs_run"] == len(record["curve"]) == 2
        assert all(0 <= row["val/f1_macro"] <= 1 and row["val/loss"] > 0 for row in record["curve"])
        # DistributedSampler: each of the 2 ranks trains on half the examples per epoch
        assert record["train_samples"] > 0

        import mlflow

        from pipeline.tracking import tracking_uri

        client = mlflow.MlflowClient(tracking_uri(params.base))
        experiment = client.get_experiment_by_name(params.base.mlflow_experiment)
        runs = client.search_runs([experiment.experiment_id], "tags.stage = 'train'")
        assert [r.info.run_name for r in runs] == ["train-gru"]
        run = runs[0]
        assert run.info.run_id == record["mlflow_run_id"] and run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "val/f1_macro")
        assert len(history) == 2  # one value per epoch, logged once (rank 0), not once per process


def test_global_rank_from_the_launchers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(var, raising=False)
    assert global_rank(2) == 0
    monkeypatch.setenv("SLURM_PROCID", "3")  # srun: one task per device
    assert global_rank(2) == 3
    monkeypatch.setenv("LOCAL_RANK", "1")  # Lightning's ddp launcher (wins over an inherited SLURM_PROCID)
    monkeypatch.setenv("NODE_RANK", "1")
    assert global_rank(2) == 3 and global_rank(4) == 5
    monkeypatch.setenv("RANK", "6")  # torchrun
    assert global_rank(2) == 6


@pytest.mark.parametrize(
    ("accelerator", "choice", "cuda", "bf16", "expected"),
    [
        ("auto", "auto", False, False, ("cpu", "32-true")),
        ("cpu", "bf16-mixed", True, True, ("cpu", "32-true")),
        ("auto", "auto", True, True, ("cuda", "bf16-mixed")),
        ("gpu", "auto", True, False, ("cuda", "16-mixed")),
        ("gpu", "bf16-mixed", True, True, ("cuda", "bf16-mixed")),
        ("auto", "32", True, True, ("cuda", "32-true")),
        ("auto", "16-mixed", True, True, ("cuda", "16-mixed")),
    ],
)
def test_device_and_precision_choice(accelerator, choice, cuda, bf16, expected) -> None:
    assert resolve_device(accelerator, choice, cuda, bf16) == expected


def test_bf16_on_a_gpu_without_it_and_gpu_without_one_are_refused() -> None:
    with pytest.raises(PrecisionError, match="bf16-mixed: this GPU has no bf16 support") as err:
        resolve_device("gpu", "bf16-mixed", True, False)
    assert isinstance(err.value, ParamsError) and "\n" not in str(err.value)
    with pytest.raises(PrecisionError, match="accelerator gpu: no CUDA GPU is visible"):
        resolve_device("gpu", "auto", False, False)
