"""Stage **train@<arch>**: fit one architecture, keep its best and last checkpoints.

``python -m pipeline train <arch>`` reads ``base``, ``preprocess`` (for the record) and
``train`` params and writes ``<models_dir>/<arch>/``: ``best.ckpt`` (best validation
macro-F1), ``last.ckpt`` (the final epoch), ``run.json`` (seed, git commit, versions, params,
parameter count, times, epochs, per-epoch curve, CPU inference latency, MLflow run id). The
run is logged to MLflow as ``train-<arch>``. ``tfidf_linear`` (family ``baseline``) is fitted
with scikit-learn instead and saved as ``model.joblib``.

Interrupted trainings resume: while a network trains, its checkpoints live in
``<train.state_dir>/<arch>/`` (outside the DVC output, which DVC deletes before re-running a
stage) with a fingerprint of the params and data; the next run with the same fingerprint and
``train.resume: true`` continues from ``last.ckpt`` in the same MLflow run. A finished training
moves its checkpoints into the output folder and leaves no state behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, ParamsError, load_params
from pipeline.data.jsonl import read_json, write_json
from pipeline.data.split import split_tokens
from pipeline.models.registry import ARCHITECTURES, is_neural
from pipeline.models.vectors import read_info
from pipeline.tracking import flat_params, provenance, provenance_tags, setup_mlflow, tracking_uri
from pipeline.tuning.overlay import apply_tuned, record_tuned

log = logging.getLogger("train")
MONITOR = "val/f1_macro"
# Keys that may change between an interrupted run and its resumption.
RESUME_FREE = {"architectures", "seeds", "max_epochs", "patience", "resume", "state_dir", "accelerator", "precision"}
LATENCY_DOCS = 100  # batch-1 timings over at most this many test documents


def fingerprint(params: Params, arch: str) -> str:
    """What a resumed training must share with the interrupted one: params and the processed data."""
    tp = {k: v for k, v in params.train.model_dump().items() if k not in RESUME_FREE}
    h = hashlib.sha256(
        json.dumps([arch, params.base.seed, params.base.deterministic, tp], sort_keys=True).encode("utf-8")
    )
    processed = Path(params.base.processed_dir)
    for name in ("classes.json", "vocab.json", "train.jsonl", "val.jsonl"):
        with open(processed / name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _time_per_doc(predict: Callable[[list[Any]], Any], docs: list[Any], batch_size: int) -> float:
    """Milliseconds per document predicting ``docs`` in batches of ``batch_size`` (after one warm-up)."""
    if batch_size == 1:
        docs = docs[:LATENCY_DOCS]
    else:  # enough documents for at least 3 full batches
        docs = (docs * (1 + (3 * batch_size) // max(1, len(docs))))[: max(len(docs), 3 * batch_size)]
    predict(docs[:batch_size])
    started = time.perf_counter()
    for i in range(0, len(docs), batch_size):
        predict(docs[i : i + batch_size])
    return round(1000 * (time.perf_counter() - started) / len(docs), 4)


def latency(predict: Callable[[list[Any]], Any], docs: list[Any]) -> dict[str, float]:
    """CPU inference latency, ms/document, at batch 1 and batch 64."""
    return {"batch_1": _time_per_doc(predict, docs, 1), "batch_64": _time_per_doc(predict, docs, 64)}


def network_latency(model: Any, items: Sequence[tuple[list[int], int]]) -> dict[str, float]:
    import torch

    from pipeline.training.data import collate

    model = model.to("cpu").eval()

    def predict(batch: list[tuple[list[int], int]]) -> None:
        with torch.inference_mode():
            b = collate(batch)
            model(b["ids"], b["lengths"]).argmax(-1)

    return latency(predict, list(items))


def with_seed(params: Params, seed: int) -> Params:
    """``params`` with ``base.seed`` replaced."""
    return params.model_copy(update={"base": params.base.model_copy(update={"seed": seed})})


def seed_dirs(model_dir: Path) -> list[Path]:
    """A trained architecture's model folders: the primary one, then ``seeds/<seed>/`` in seed order."""
    extra = sorted((p for p in (model_dir / "seeds").glob("*") if p.is_dir()), key=lambda p: int(p.name))
    return [model_dir, *extra]


def train(params: Params, arch: str, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train ``arch`` once per seed of ``train.seeds`` (or once with ``base.seed``); return the primary
    run record.

    The first seed's model is the primary one, in ``<models_dir>/<arch>/``; each further seed gets
    ``<models_dir>/<arch>/seeds/<seed>/`` with the same files. ``callbacks`` are extra Lightning
    callbacks (tests use one to interrupt a training)."""
    params = apply_tuned(params, arch)  # the tune stage's best params (pipeline/tuning/overlay.py), if any
    if arch not in ARCHITECTURES:
        raise ParamsError(f"unknown architecture {arch!r}; allowed: {', '.join(sorted(ARCHITECTURES))}")
    seeds = params.train.seeds or [params.base.seed]
    out_dir = Path(params.base.models_dir) / arch
    shutil.rmtree(out_dir, ignore_errors=True)
    records = []
    for i, seed in enumerate(seeds):
        target = out_dir if i == 0 else out_dir / "seeds" / str(seed)
        state = Path(params.train.state_dir) / (arch if i == 0 else f"{arch}-seed-{seed}")
        if len(seeds) > 1:
            log.info("%s: seed %d (%d of %d)", arch, seed, i + 1, len(seeds))
        records.append(_train_seed(with_seed(params, seed), arch, target, state, callbacks))
    record_tuned(params, arch, records)
    return records[0]


def _train_seed(
    params: Params, arch: str, out_dir: Path, state_dir: Path, callbacks: Sequence[Any] = ()
) -> dict[str, Any]:
    """One training of ``arch`` with ``params.base.seed`` into ``out_dir`` (checkpoints kept in
    ``state_dir`` until it finishes)."""
    if not is_neural(arch):
        return train_baseline(params, arch, out_dir)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS on GPUs
    import lightning as L
    import torch
    from lightning.pytorch.loggers import MLFlowLogger

    from pipeline.models.vectors import OovMapper, embedding_matrix, load_vectors
    from pipeline.text.vocab import Vocab
    from pipeline.training.callbacks import RecordCurve
    from pipeline.training.data import ReviewDataModule
    from pipeline.training.module import ClassifierModule, balanced_class_weights
    from pipeline.training.trainer import checkpointed_trainer

    base, tp = params.base, params.train
    L.seed_everything(base.seed, workers=True)
    classes = read_json(Path(base.processed_dir) / "classes.json")
    num_classes = len(classes["labels"])
    vocab = Vocab.load(Path(base.processed_dir) / "vocab.json")
    vectors = load_vectors(base.models_dir, tp.embedding_init) if tp.embedding_init != "random" else None
    unknown = OovMapper(vectors, vocab) if tp.embedding_init == "fasttext" else None
    dm = ReviewDataModule(base.processed_dir, tp.batch_size, tp.max_length, eval_batch_size=64, unknown=unknown)
    weights = balanced_class_weights(dm.split("train").labels, num_classes) if tp.class_weights == "balanced" else None
    model = ClassifierModule(arch, len(dm.vocab), num_classes, tp.model_dump(), class_weights=weights)
    if vectors is not None:
        model.set_embeddings(embedding_matrix(vocab, vectors, base.seed)[0])

    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)

    state_file = state_dir / "state.json"
    fp = fingerprint(params, arch)
    resume_from: Path | None = None
    run_id: str | None = None
    if tp.resume and (state_dir / "checkpoints" / "last.ckpt").is_file() and state_file.is_file():
        state = read_json(state_file)
        if state.get("fingerprint") == fp:
            resume_from, run_id = state_dir / "checkpoints" / "last.ckpt", state.get("mlflow_run_id")
        else:
            log.info("%s: discarding the state of an interrupted training with other params or data", arch)
    if resume_from is None:
        shutil.rmtree(state_dir, ignore_errors=True)
    ckpt_dir = state_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)

    setup_mlflow(base)
    logger = MLFlowLogger(
        experiment_name=base.mlflow_experiment,
        run_name=f"train-{arch}",
        tracking_uri=tracking_uri(base),
        tags={**provenance_tags(base.seed), "arch": arch, "stage": "train"},
        run_id=run_id,
    )
    write_json(state_file, {"fingerprint": fp, "mlflow_run_id": logger.run_id})
    recorder = RecordCurve()
    trainer, precision = checkpointed_trainer(
        tp,
        deterministic=base.deterministic,
        ckpt_dir=ckpt_dir,
        root_dir=out_dir,
        monitor=MONITOR,
        mode="max",
        logger=logger,
        recorder=recorder,
        callbacks=callbacks,
        precision=tp.precision,
        sanity_val_steps=None,
    )
    if resume_from is None:
        logger.log_hyperparams(flat_params(params))
    else:
        log.info("%s: resuming an interrupted training from %s", arch, resume_from)
    trainer.fit(model, datamodule=dm, ckpt_path=str(resume_from) if resume_from else None)
    train_time = recorder.elapsed_s

    for name in ("best.ckpt", "last.ckpt"):
        shutil.move(str(ckpt_dir / name), str(out_dir / name))
    shutil.rmtree(state_dir, ignore_errors=True)

    curve = recorder.curve
    best = max(curve, key=lambda r: r.get(MONITOR, float("-inf"))) if curve else {}
    best_model = ClassifierModule.load_from_checkpoint(out_dir / "best.ckpt", map_location="cpu")
    lat = network_latency(best_model, dm.split("test"))
    record: dict[str, Any] = {
        "arch": arch,
        "family": ARCHITECTURES[arch].family,
        "description": ARCHITECTURES[arch].description,
        **provenance(base.seed),
        "params": flat_params(params),
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(trainer.strategy.root_device),
        "precision": precision,
        "train_time_s": round(train_time, 2),
        "epochs_run": len(curve),
        "resumed_at_epoch": recorder.start_epoch if resume_from else None,
        "best_epoch": best.get("epoch"),
        "best_val_f1_macro": best.get(MONITOR),
        "train_samples": len(dm.split("train")),
        "embeddings": read_info(base.models_dir) if tp.embedding_init != "random" else {"method": "random"},
        "class_weights": weights,
        "latency_ms_per_doc": lat,
        "checkpoint": str(out_dir / "best.ckpt"),
        "last_checkpoint": str(out_dir / "last.ckpt"),
        "mlflow_run_id": logger.run_id,
        "mlflow_experiment_id": logger.experiment_id,
        "curve": curve,
        "torch_threads": torch.get_num_threads(),
    }
    write_json(out_dir / "run.json", record)
    _log_record(logger.experiment, logger.run_id, record, [out_dir / "run.json", out_dir / "best.ckpt"])
    return record


def _log_record(client: Any, run_id: str, record: dict[str, Any], artifacts: list[Path]) -> None:
    client.log_metric(run_id, "best/val_f1_macro", record["best_val_f1_macro"] or 0.0)
    client.log_metric(run_id, "train_time_s", record["train_time_s"])
    for batch, ms in record["latency_ms_per_doc"].items():
        client.log_metric(run_id, f"latency_ms_per_doc/{batch}", ms)
    client.log_param(run_id, "parameters", record["parameters"])
    for path in artifacts:
        client.log_artifact(run_id, str(path))
    log.info(
        "%s: best val macro-F1 %.4f at epoch %s of %d, %.1f s, %d parameters, %.3f ms/doc (batch 1)",
        record["arch"],
        record["best_val_f1_macro"] or 0,
        record["best_epoch"],
        record["epochs_run"],
        record["train_time_s"],
        record["parameters"],
        record["latency_ms_per_doc"]["batch_1"],
    )


def train_baseline(params: Params, arch: str, out_dir: Path) -> dict[str, Any]:
    """``tfidf_linear``: C chosen on validation macro-F1, refitted on train + val, saved with joblib."""
    import joblib
    import mlflow

    from pipeline.models.baselines import TfidfLinear

    base = params.base
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    xtr, ytr, _ = split_tokens(base.processed_dir, "train")
    xva, yva, _ = split_tokens(base.processed_dir, "val")
    xte, _, _ = split_tokens(base.processed_dir, "test")
    started = time.perf_counter()
    model = TfidfLinear().fit(xtr, ytr, xva, yva)
    train_time = time.perf_counter() - started
    joblib.dump(model, out_dir / "model.joblib")
    setup_mlflow(base)
    with mlflow.start_run(
        run_name=f"train-{arch}", tags={**provenance_tags(base.seed), "arch": arch, "stage": "train"}
    ) as run:
        mlflow.log_params(flat_params(params))
        mlflow.log_param("tfidf_linear.C", model.c)
        record: dict[str, Any] = {
            "arch": arch,
            "family": ARCHITECTURES[arch].family,
            "description": ARCHITECTURES[arch].description,
            **provenance(base.seed),
            "params": flat_params(params),
            "parameters": model.parameter_count(),
            "device": "cpu",
            "precision": None,
            "train_time_s": round(train_time, 2),
            "epochs_run": 1,
            "resumed_at_epoch": None,
            "best_epoch": 0,
            "best_val_f1_macro": round(model.val_f1_macro, 6) if model.val_f1_macro is not None else None,
            "train_samples": len(ytr),
            "class_weights": None,
            "C": model.c,
            "latency_ms_per_doc": latency(model.predict, xte),
            "checkpoint": str(out_dir / "model.joblib"),
            "last_checkpoint": None,
            "mlflow_run_id": run.info.run_id,
            "mlflow_experiment_id": run.info.experiment_id,
            "curve": [],
        }
        write_json(out_dir / "run.json", record)
        _log_record(mlflow.MlflowClient(), run.info.run_id, record, [out_dir / "run.json", out_dir / "model.joblib"])
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch", help=f"one of: {', '.join(sorted(ARCHITECTURES))}")
    args = parser.parse_args()
    train(load_params(), args.arch)


if __name__ == "__main__":
    cli.run(main)
