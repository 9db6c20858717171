"""Building the ensemble classifier: its members' validation probabilities, the fitted combiner, a
self-contained model folder (the members are copied into it) and its run record, logged to MLflow."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from pipeline.config import Params
from pipeline.data.jsonl import DataError, read_json, write_json
from pipeline.data.split import read_split
from pipeline.evaluation.latency import latency
from pipeline.models.baselines import HELD_OUT_FILE
from pipeline.models.ensemble import fit_ensemble
from pipeline.serving.predict import load_predictor
from pipeline.tracking import flat_params, provenance, provenance_tags, setup_mlflow
from pipeline.training.run_record import RunRecord

NAME = "ensemble"
SPEC_FILE = "ensemble.json"


def validation_probabilities(model_dir: Path, processed: Path, val: list[dict[str, Any]]) -> list[list[float]]:
    """A member's probabilities on the validation rows, out of sample: a linear floor's saved ones (from its fit on
    train alone: the saved floor was refitted on train + val), else the model's own predictions (networks and
    fine-tuned transformers only select their epoch on validation)."""
    held_out = model_dir / HELD_OUT_FILE
    if held_out.is_file():
        saved = read_json(held_out)
        if saved["ids"] != [str(r["id"]) for r in val]:
            raise DataError(f"{held_out}: its validation ids differ from {processed / 'val.jsonl'}; retrain the model")
        return saved["probabilities"]
    return load_predictor(model_dir, processed).predict_proba(val)


def _copy_member(source: Path, target: Path) -> None:
    """The member's model folder without its extra seeds (the ensemble uses the primary model)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("seeds", "last.ckpt"))


def build_ensemble(params: Params) -> RunRecord:
    """Fit the ensemble of ``params.ensemble_members`` on the validation split into ``<models_dir>/ensemble/``."""
    import mlflow

    base, ep = params.base, params.ensemble
    models, processed = Path(base.models_dir), Path(base.processed_dir)
    val = read_split(processed / "val.jsonl")
    if not val:
        raise DataError(f"{processed / 'val.jsonl'}: the validation split is empty; the ensemble is fitted on it")
    members = params.ensemble_members
    for arch in members:
        if not (models / arch / "run.json").is_file():
            raise DataError(f"{models / arch / 'run.json'}: ensemble member {arch!r} is not trained")
    started = time.perf_counter()
    probs = [validation_probabilities(models / arch, processed, val) for arch in members]
    combiner, scores = fit_ensemble(members, probs, [int(r["label"]) for r in val], ep.method, ep.folds, base.seed)
    train_time = time.perf_counter() - started

    out = models / NAME
    staging = models / f".{NAME}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "members").mkdir(parents=True)
    for arch in members:
        _copy_member(models / arch, staging / "members" / arch)
    write_json(staging / SPEC_FILE, combiner.to_json())
    member_params = {arch: RunRecord.load(models / arch).parameters for arch in members}
    summary: dict[str, Any] = {
        **combiner.to_json(),
        "cv_val_f1_macro": scores,
        "member_parameters": member_params,
        "folds": ep.folds,
    }
    setup_mlflow(base)
    with mlflow.start_run(run_name=f"train-{NAME}", tags={**provenance_tags(base.seed), "arch": NAME, "stage": NAME}):
        run = mlflow.active_run()
        mlflow.log_params(flat_params(params))
        mlflow.log_params({"ensemble.method_chosen": combiner.method, "ensemble.members_used": ",".join(members)})
        record = RunRecord(
            arch=NAME,
            stage="ensemble",
            family="ensemble",
            description=f"{combiner.method} of {', '.join(members)} (fitted on validation)",
            **provenance(base.seed),
            params=flat_params(params),
            parameters=sum(member_params.values()) + len(combiner.weights) + sum(len(r) for r in combiner.coef),
            device="cpu",
            precision=None,
            train_time_s=round(train_time, 2),
            epochs_run=1,
            best_epoch=0,
            best_val_f1_macro=scores[combiner.method],
            train_samples=len(val),
            ensemble=summary,
            checkpoint=str(out / SPEC_FILE),
            mlflow_run_id=run.info.run_id,
            mlflow_experiment_id=run.info.experiment_id,
        )
        record.save(staging)
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)  # the folder appears whole or not at all
        ensemble = load_predictor(out, processed)
        test = read_split(processed / "test.jsonl")
        record.latency_ms_per_doc = latency(ensemble.predict_proba, test) if test else None
        record.checkpoint = str(out / SPEC_FILE)
        record.log_to_mlflow(mlflow.MlflowClient(), [record.save(out), out / SPEC_FILE])
    return record
