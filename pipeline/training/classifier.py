"""Training one classifier of the train stage: a registered network through the one fit, or the TF-IDF
baseline with scikit-learn. Both return the typed run record and write it beside the model."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import Params, TrainParams
from pipeline.data.integrity import atomic_path, checksum_path, write_checksum
from pipeline.data.jsonl import read_json, write_json
from pipeline.data.split import split_tokens
from pipeline.evaluation.latency import latency, network_latency
from pipeline.models.baselines import HELD_OUT_FILE
from pipeline.models.registry import ARCHITECTURES
from pipeline.models.vectors import read_info
from pipeline.text.vocab import Vocab
from pipeline.tracking import flat_params, provenance, provenance_tags, setup_mlflow
from pipeline.training.distributed import is_rank_zero
from pipeline.training.run_record import RunRecord
from pipeline.training.state import fingerprint, open_state

PROCESSED_INPUTS = ("classes.json", "vocab.json", "train.jsonl", "val.jsonl")


def word_vectors(tp: TrainParams, models_dir: str, vocab: Vocab) -> tuple[Any, Any]:
    """The embeddings stage's vectors (None for random init) and, for fastText, the mapper that sends an
    out-of-vocabulary word to its nearest vocabulary word (else None: ``<unk>``)."""
    if tp.embedding_init == "random":
        return None, None
    from pipeline.models.vectors import OovMapper, load_vectors

    vectors = load_vectors(models_dir, tp.embedding_init)
    return vectors, OovMapper(vectors, vocab) if tp.embedding_init == "fasttext" else None


def build_classifier(
    arch: str, vocab: Vocab, num_classes: int, tp: TrainParams, vectors: Any, seed: int, train_labels: Sequence[int]
) -> Any:
    """The classifier module of ``arch`` as training and every tuning trial build it: class weights from the
    train labels when ``class_weights: balanced``, embeddings from ``vectors`` when given."""
    from pipeline.models.vectors import embedding_matrix
    from pipeline.training.module import ClassifierModule, balanced_class_weights

    weights = balanced_class_weights(train_labels, num_classes) if tp.class_weights == "balanced" else None
    module = ClassifierModule(arch, len(vocab), num_classes, tp.model_dump(), class_weights=weights)
    if vectors is not None:
        module.set_embeddings(embedding_matrix(vocab, vectors, seed)[0])
    return module


def correct_prior(model: Any, dm: Any, num_classes: int, checkpoint: Path) -> dict[str, Any]:
    """Choose the prior correction on the validation split (:mod:`pipeline.training.prior`) from ``model``'s
    logits and fold it into ``checkpoint``'s output bias; the choice, with validation scores before and after."""
    from pipeline.training.prior import choose_offsets, fold_into_checkpoint, validation_logits

    val = dm.split("val")
    chosen = choose_offsets(validation_logits(model, val), val.labels, dm.split("train").labels, num_classes)
    if any(chosen["offsets"]):
        fold_into_checkpoint(checkpoint, chosen["offsets"])
    return chosen


def train_network(
    params: Params, arch: str, out_dir: Path, state_dir: Path, callbacks: Sequence[Any] = ()
) -> RunRecord | None:
    """One training of network ``arch`` with ``params.base.seed`` into ``out_dir``, resumable from
    ``state_dir`` (see :mod:`pipeline.training.fit`); None in the non-zero ranks of a distributed training."""
    import lightning as L

    from pipeline.training.data import ReviewDataModule
    from pipeline.training.fit import CLASSIFIER_MONITOR, FitSpec, fit, resumable_settings
    from pipeline.training.module import ClassifierModule

    base, tp = params.base, params.train
    L.seed_everything(base.seed, workers=True)
    processed = Path(base.processed_dir)
    num_classes = len(read_json(processed / "classes.json")["labels"])
    vocab = Vocab.load(processed / "vocab.json")
    vectors, unknown = word_vectors(tp, base.models_dir, vocab)
    dm = ReviewDataModule(
        base.processed_dir, tp.batch_size, tp.max_length, eval_batch_size=64, unknown=unknown, workers=tp.num_workers
    )
    model = build_classifier(arch, vocab, num_classes, tp, vectors, base.seed, dm.split("train").labels)

    writer = is_rank_zero(tp)
    if writer:
        shutil.rmtree(out_dir, ignore_errors=True)
    fp = fingerprint(
        arch,
        base.seed,
        base.deterministic,
        resumable_settings(tp),
        files=tuple(processed / n for n in PROCESSED_INPUTS),
    )
    spec = FitSpec(
        name=f"train-{arch}",
        stage="train",
        monitor=CLASSIFIER_MONITOR,
        tags={"arch": arch},
        hyperparams=flat_params(params),
        state=open_state(state_dir, fp, tp.resume, arch, read_only=not writer),
        out_dir=out_dir,
        sanity_val_steps=None,
    )
    result = fit(model, dm, tp, base, spec, callbacks=callbacks)
    if not result.rank_zero:
        return None

    curve = result.recorder.curve
    best = max(curve, key=lambda r: r.get(CLASSIFIER_MONITOR, float("-inf"))) if curve else {}
    best_model = ClassifierModule.load_from_checkpoint(result.best, map_location="cpu", weights_only=True)
    correction = None
    if tp.prior_correction == "auto":
        correction = correct_prior(best_model, dm, num_classes, Path(result.best))
    record = RunRecord(
        arch=arch,
        stage="train",
        family=ARCHITECTURES[arch].family,
        description=ARCHITECTURES[arch].description,
        **provenance(base.seed),
        params=flat_params(params),
        **result.summary(model, best),
        # the saved network's: after the prior correction when one was folded in
        best_val_f1_macro=correction["val_f1_macro"]
        if correction and any(correction["offsets"])
        else best.get(CLASSIFIER_MONITOR),
        train_samples=len(dm.split("train")),
        train_tokens=result.recorder.tokens,
        train_tokens_per_s=result.recorder.tokens_per_s(),
        embeddings=read_info(base.models_dir) if tp.embedding_init != "random" else {"method": "random"},
        class_weights=model.hparams.class_weights,
        prior_correction=correction,
        latency_ms_per_doc=network_latency(best_model, dm.split("test")),
        checkpoint=str(result.best),
    )
    record.log_to_mlflow(result.client, [record.save(out_dir), result.best])
    return record


def train_baseline(params: Params, arch: str, out_dir: Path) -> RunRecord:
    """A linear floor (``tfidf_linear``, ``tfidf_char_word``, ``nbsvm``): C chosen on validation macro-F1, refitted
    on train + val, saved with joblib."""
    import joblib
    import mlflow

    from pipeline.models.baselines import forget_object_ids, make_floor

    base = params.base
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    xtr, ytr, _ = split_tokens(base.processed_dir, "train")
    xva, yva, val_rows = split_tokens(base.processed_dir, "val")
    xte, _, _ = split_tokens(base.processed_dir, "test")
    started = time.perf_counter()
    model = make_floor(arch).fit(xtr, ytr, xva, yva)
    forget_object_ids(model)
    train_time = time.perf_counter() - started
    with atomic_path(out_dir / "model.joblib") as tmp:  # a pickle: checksum beside it, verified before loading
        joblib.dump(model, tmp)
    write_checksum(out_dir / "model.joblib")
    if xva:  # out-of-sample validation probabilities (the saved model has seen val): what the ensemble fits on
        held_out = {"ids": [str(r["id"]) for r in val_rows], "probabilities": model.held_out_proba(xtr, ytr, xva)}
        write_json(out_dir / HELD_OUT_FILE, held_out)
    setup_mlflow(base)
    with mlflow.start_run(
        run_name=f"train-{arch}", tags={**provenance_tags(base.seed), "arch": arch, "stage": "train"}
    ) as run:
        mlflow.log_params(flat_params(params))
        mlflow.log_param(f"{arch}.C", model.c)
        record = RunRecord(
            arch=arch,
            stage="train",
            family=ARCHITECTURES[arch].family,
            description=ARCHITECTURES[arch].description,
            **provenance(base.seed),
            params=flat_params(params),
            parameters=model.parameter_count(),
            device="cpu",
            precision=None,
            train_time_s=round(train_time, 2),
            epochs_run=1,
            best_epoch=0,
            best_val_f1_macro=round(model.val_f1_macro, 6) if model.val_f1_macro is not None else None,
            train_samples=len(ytr),
            C=model.c,
            latency_ms_per_doc=latency(model.predict, xte),
            checkpoint=str(out_dir / "model.joblib"),
            mlflow_run_id=run.info.run_id,
            mlflow_experiment_id=run.info.experiment_id,
        )
        saved = [record.save(out_dir), out_dir / "model.joblib", checksum_path(out_dir / "model.joblib")]
        record.log_to_mlflow(mlflow.MlflowClient(), saved)
    return record
