"""One resumable, MLflow-logged Lightning fit, shared by the pretrain and finetune stages.

While it runs, ``best.ckpt``/``last.ckpt`` live in the state folder (outside the DVC output); a run
with the same fingerprint resumes from ``last.ckpt`` in the same MLflow run. At the end both are moved
to ``out_dir`` and the state is removed.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import BaseParams
from pipeline.pretrained.state import TrainingState
from pipeline.tracking import provenance_tags, tracking_uri
from pipeline.training.callbacks import RecordCurve
from pipeline.training.trainer import checkpointed_trainer

log = logging.getLogger("fit")


@dataclass
class FitSettings:
    """What one fit needs beyond the module and the data."""

    name: str  # logs and the MLflow run name
    stage: str  # MLflow tag
    max_epochs: int
    monitor: str | None  # early stopping and best checkpoint; None: no early stopping, best = last epoch
    mode: str = "max"
    patience: int = 1
    accelerator: str = "auto"
    precision: str = "auto"
    grad_clip: float = 0.0
    limit_train_batches: float = 1.0
    hyperparams: dict[str, Any] | None = None  # logged once, on a fresh start


@dataclass
class FitResult:
    recorder: RecordCurve
    resumed: bool
    precision: str
    device: str
    run_id: str
    experiment_id: str
    client: Any  # MlflowClient
    best: Path
    last: Path

    def summary(self, model: Any, best_row: dict[str, Any]) -> dict[str, Any]:
        """The run-record fields every fit shares: size, device, time, epochs, best epoch."""
        return {
            "parameters": sum(p.numel() for p in model.parameters()),
            "device": self.device,
            "precision": self.precision,
            "train_time_s": round(self.recorder.elapsed_s, 2),
            "epochs_run": len(self.recorder.curve),
            "resumed_at_epoch": self.recorder.start_epoch if self.resumed else None,
            "best_epoch": best_row.get("epoch"),
        }


def fit(
    module: Any,
    datamodule: Any,
    base: BaseParams,
    settings: FitSettings,
    state: TrainingState,
    out_dir: Path,
    recorder: RecordCurve | None = None,
    callbacks: Sequence[Any] = (),
) -> FitResult:
    """Train ``module`` (seeded by the caller), resuming from ``state`` when it holds a last checkpoint;
    the best and last checkpoints end in ``out_dir``."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS on GPUs
    from lightning.pytorch.loggers import MLFlowLogger

    from pipeline.tracking import setup_mlflow

    setup_mlflow(base)
    logger = MLFlowLogger(
        experiment_name=base.mlflow_experiment,
        run_name=settings.name,
        tracking_uri=tracking_uri(base),
        tags={**provenance_tags(base.seed), "arch": settings.name.removeprefix("train-"), "stage": settings.stage},
        run_id=state.mlflow_run_id,
    )
    state.save(logger.run_id)
    recorder = recorder or RecordCurve()
    trainer, precision = checkpointed_trainer(
        settings,
        deterministic=base.deterministic,
        ckpt_dir=state.checkpoints,
        root_dir=state.dir,
        monitor=settings.monitor,
        mode=settings.mode,
        logger=logger,
        recorder=recorder,
        callbacks=callbacks,
        precision=settings.precision,
    )
    if state.resume_from is None:
        if settings.hyperparams:
            logger.log_hyperparams(settings.hyperparams)
    else:
        log.info("%s: resuming an interrupted training from %s", settings.name, state.resume_from)
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(state.resume_from) if state.resume_from else None)

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("best.ckpt", "last.ckpt"):
        shutil.move(str(state.checkpoints / name), str(out_dir / name))
    state.clear()
    return FitResult(
        recorder=recorder,
        resumed=state.resume_from is not None,
        precision=precision,
        device=str(trainer.strategy.root_device),
        run_id=logger.run_id,
        experiment_id=logger.experiment_id,
        client=logger.experiment,
        best=out_dir / "best.ckpt",
        last=out_dir / "last.ckpt",
    )
