"""Stage **train@<arch>**: fit one architecture with Lightning, keep the best checkpoint.

``python -m pipeline.train <arch>`` reads ``base``, ``preprocess`` (for the record) and
``train`` params and writes ``<models_dir>/<arch>/``: ``best.ckpt`` (best validation
macro-F1), ``run.json`` (seed, git commit, versions, params, parameter count, times,
epochs, per-epoch curve, MLflow run id). The run is logged to MLflow as ``train-<arch>``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, ParamsError, load_params
from pipeline.jsonl import read_json, write_json
from pipeline.models.registry import ARCHITECTURES
from pipeline.tracking import flat_params, provenance, provenance_tags, setup_mlflow, tracking_uri

log = logging.getLogger("train")
MONITOR = "val/f1_macro"


def train(params: Params, arch: str) -> dict[str, Any]:
    """Train ``arch``; return its run record (also written to ``run.json``)."""
    if arch not in ARCHITECTURES:
        raise ParamsError(f"unknown architecture {arch!r}; allowed: {', '.join(sorted(ARCHITECTURES))}")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS on GPUs
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import MLFlowLogger

    from pipeline.training.data import ReviewDataModule
    from pipeline.training.module import ClassifierModule

    base, tp = params.base, params.train
    L.seed_everything(base.seed, workers=True)
    classes = read_json(Path(base.processed_dir) / "classes.json")
    dm = ReviewDataModule(base.processed_dir, tp.batch_size, tp.max_length, eval_batch_size=64)
    model = ClassifierModule(arch, len(dm.vocab), len(classes["labels"]), tp.model_dump())

    out_dir = Path(base.models_dir) / arch
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)

    curve: list[dict[str, float]] = []

    class RecordCurve(Callback):
        def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            # Runs after the epoch's validation, so train/ and val/ metrics are both current.
            row = {"epoch": trainer.current_epoch}
            row.update({k: round(float(v), 6) for k, v in trainer.callback_metrics.items() if "/" in k})
            curve.append(row)

    setup_mlflow(base)
    logger = MLFlowLogger(
        experiment_name=base.mlflow_experiment,
        run_name=f"train-{arch}",
        tracking_uri=tracking_uri(base),
        tags={**provenance_tags(base.seed), "arch": arch, "stage": "train"},
    )
    checkpoint = ModelCheckpoint(dirpath=out_dir, filename="best", monitor=MONITOR, mode="max", save_top_k=1)
    trainer = L.Trainer(
        max_epochs=tp.max_epochs,
        accelerator=tp.accelerator,
        devices=1,
        deterministic=base.deterministic,
        callbacks=[checkpoint, EarlyStopping(monitor=MONITOR, mode="max", patience=tp.patience), RecordCurve()],
        logger=logger,
        gradient_clip_val=tp.grad_clip or None,
        limit_train_batches=tp.limit_train_batches,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(out_dir),
        log_every_n_steps=1,
    )
    logger.log_hyperparams(flat_params(params))
    started = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    train_time = time.perf_counter() - started

    best = max(curve, key=lambda r: r.get(MONITOR, float("-inf"))) if curve else {}
    record: dict[str, Any] = {
        "arch": arch,
        "description": ARCHITECTURES[arch].description,
        **provenance(base.seed),
        "params": flat_params(params),
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(trainer.strategy.root_device),
        "train_time_s": round(train_time, 2),
        "epochs_run": len(curve),
        "best_epoch": best.get("epoch"),
        "best_val_f1_macro": best.get(MONITOR),
        "train_samples": len(dm.split("train")),
        "checkpoint": str(out_dir / "best.ckpt"),
        "mlflow_run_id": logger.run_id,
        "mlflow_experiment_id": logger.experiment_id,
        "curve": curve,
        "torch_threads": torch.get_num_threads(),
    }
    write_json(out_dir / "run.json", record)
    client = logger.experiment
    client.log_metric(logger.run_id, "best/val_f1_macro", record["best_val_f1_macro"] or 0.0)
    client.log_metric(logger.run_id, "train_time_s", record["train_time_s"])
    client.log_param(logger.run_id, "parameters", record["parameters"])
    client.log_artifact(logger.run_id, str(out_dir / "run.json"))
    client.log_artifact(logger.run_id, str(Path(checkpoint.best_model_path)))
    log.info(
        "%s: best val macro-F1 %.4f at epoch %s of %d, %.1f s, %d parameters",
        arch,
        record["best_val_f1_macro"] or 0,
        record["best_epoch"],
        len(curve),
        train_time,
        record["parameters"],
    )
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch", help=f"one of: {', '.join(sorted(ARCHITECTURES))}")
    args = parser.parse_args()
    train(load_params(), args.arch)


if __name__ == "__main__":
    cli.run(main)
