"""Registering the run's best classifier in the MLflow model registry (the register stage's work; what is
registered and how the champion alias moves is in ``pipeline/stages/register.py``'s docstring): the choice by
validation (or test) macro-F1, the pyfunc model with the whole ``pipeline`` package as its code, the version's
tags and description, and the champion/challenger gate (:mod:`pipeline.evaluation.gate`)."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pipeline import runlog
from pipeline.config import Params
from pipeline.data.checks import DISTRIBUTION_TAG
from pipeline.data.jsonl import DataError, read_json, write_json
from pipeline.data.split import read_split
from pipeline.evaluation import gate
from pipeline.models.registry import floors
from pipeline.serving.pyfunc import ReviewClassifier, load_registered, record_checksums
from pipeline.tracking import provenance_tags, setup_mlflow, tracking_uri
from pipeline.training.run_record import RunRecord

log = logging.getLogger("register")
# facts of this registration (MLflow's ids, the stored files' checksums, which hold MLflow's own run id and
# time): the run log's and the version's tags, not registry.json's
RUN_FACTS = frozenset({"training_run_id", "register_run_id", "model_uri", "sha256"})
# What this checkout registered into its own MLflow store: a DVC output kept out of git, so a clone (whose store
# is empty) registers again even though the committed registry.json already matches its inputs
REGISTERED_FILE = "registered.json"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the whole pipeline package travels with the model
REQUIREMENTS = ("torch", "lightning", "torchmetrics", "scikit-learn", "numpy", "pandas", "pydantic", "pyyaml",
                "joblib", "scipy", "transformers", "tokenizers", "snowballstemmer", "nltk")  # fmt: skip


def select(params: Params) -> tuple[str, RunRecord, dict[str, Any]]:
    """The architecture to register, its run record and its evaluation."""
    base = params.base
    candidates = []
    for arch in params.classifiers:
        run = RunRecord.load(Path(base.models_dir) / arch)
        ev = read_json(Path(base.reports_dir) / "eval" / f"{arch}.json")
        score = run.best_val_f1_macro if params.registry.select_by == "val" else ev.get("f1_macro")
        if score is None:
            log.warning("%s: no %s macro-F1 recorded, not a candidate", arch, params.registry.select_by)
            continue
        candidates.append((-float(score), run.parameters, arch, run, ev))
    if not candidates:
        raise DataError(f"no classifier has a {params.registry.select_by} macro-F1 to choose by")
    _, _, arch, run, ev = min(candidates, key=lambda c: c[:3])
    return arch, run, ev


def describe(params: Params, arch: str, run: RunRecord, ev: dict[str, Any], provenance: bool = True) -> str:
    """The registered version's description: what was chosen, its test figures with their interval (at the level
    the evaluate stage recorded, else ``evaluate.confidence_level``) and, with ``provenance``, the training run
    and commit (in MLflow's description, not in ``registry.json``, which must be the same bytes on every run)."""
    interval = ""
    if "ci" in ev:
        level = ev["ci"].get("level", params.evaluate.confidence_level)
        ci = ev["ci"]["f1_macro"]
        interval = f" ({100 * level:g}% CI {ci['low']:.4f}–{ci['high']:.4f})"
    return (
        f"{arch} ({run.family}), chosen by {params.registry.select_by} macro-F1 among "
        f"{', '.join(params.classifiers)}. Test accuracy {ev['accuracy']:.4f}, macro-F1 {ev['f1_macro']:.4f}"
        f"{interval}." + (f" Training run {run.mlflow_run_id}, git {run.git_commit}." if provenance else "")
    )


def register(params: Params) -> dict[str, Any]:
    """Log the selected classifier as a pyfunc model, register it as a new version (the challenger) and let the
    gate (:mod:`pipeline.evaluation.gate`) decide whether the alias moves to it."""
    import mlflow
    from mlflow.models import infer_signature

    base, reg = params.base, params.registry
    arch, run, ev = select(params)
    setup_mlflow(base)
    client = mlflow.MlflowClient(tracking_uri(base))
    champion = _champion(client, reg.model_name, reg.alias)
    metrics = {
        "test/accuracy": ev["accuracy"],
        "test/f1_macro": ev["f1_macro"],
        "test/f1_weighted": ev.get("f1_weighted"),
        "test/f1_macro_ci_low": ev.get("ci", {}).get("f1_macro", {}).get("low"),
        "test/f1_macro_ci_high": ev.get("ci", {}).get("f1_macro", {}).get("high"),
        "test/ece": ev.get("calibration", {}).get("ece"),
        "val/f1_macro": run.best_val_f1_macro,
    }
    metrics = {k: float(v) for k, v in metrics.items() if v is not None}
    test_rows = read_split(Path(base.processed_dir) / "test.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        processed = Path(tmp) / "processed"
        processed.mkdir()
        for name in ("classes.json", "vocab.json"):
            if (Path(base.processed_dir) / name).is_file():
                shutil.copy(Path(base.processed_dir) / name, processed / name)
        (Path(tmp) / "preprocess.json").write_text(json.dumps(params.preprocess.model_dump()), encoding="utf-8")
        artifacts = {
            "model": str(Path(base.models_dir) / arch),
            "processed": str(processed),
            "preprocess": str(Path(tmp) / "preprocess.json"),
        }
        if params.preprocess.stopwords_file:
            artifacts["stopwords"] = params.preprocess.stopwords_file
        example = _example_frame(test_rows)
        loaded = ReviewClassifier()
        loaded.load_context(SimpleNamespace(artifacts=artifacts))
        signature = infer_signature(example, loaded.predict(None, example))
        challenger_labels = _labels(loaded.predict(None, _frame(test_rows))) if test_rows else []
        tags = {**provenance_tags(base.seed), "stage": "register", "arch": arch, "selected_by": reg.select_by}
        with mlflow.start_run(run_name=f"register-{arch}", tags=tags) as mlrun:
            mlflow.log_metrics(metrics)
            mlflow.log_params({"arch": arch, "select_by": reg.select_by, "source_run_id": run.mlflow_run_id})
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=ReviewClassifier(),
                artifacts=artifacts,
                code_paths=[str(PACKAGE_DIR)],
                signature=signature,
                input_example=example,
                pip_requirements=_requirements(),
                registered_model_name=reg.model_name,
            )
            register_run_id = mlrun.info.run_id
    version = str(info.registered_model_version)
    checksums = record_checksums(client, reg.model_name, version)  # verified before the version is ever loaded
    decision = _gate(params, arch, version, float(ev["f1_macro"]), champion, test_rows, challenger_labels)
    description = describe(params, arch, run, ev)
    client.update_model_version(reg.model_name, version, description=description)
    summary = _read_optional(Path(base.processed_dir) / "summary.json")
    for key, value in {**metrics, "arch": arch, "training_run_id": run.mlflow_run_id,
                       "git_commit": run.git_commit, "selected_by": reg.select_by,
                       "gate_decision": decision.decision, "gate_reason": decision.reason}.items():  # fmt: skip
        client.set_model_version_tag(reg.model_name, version, key, str(value))
    if "label_distribution" in summary:  # the next run's preprocess measures drift against the champion's
        client.set_model_version_tag(
            reg.model_name, version, DISTRIBUTION_TAG, json.dumps(summary["label_distribution"])
        )
    if decision.moves_alias:
        client.set_registered_model_alias(reg.model_name, reg.alias, version)
    alias_version = version if decision.moves_alias else decision.champion_version
    record = {
        "name": reg.model_name,
        "version": version,
        "alias": reg.alias,
        "alias_version": alias_version,
        "uri": f"models:/{reg.model_name}@{reg.alias}",
        "arch": arch,
        "selected_by": reg.select_by,
        "metrics": metrics,
        "training_run_id": run.mlflow_run_id,
        "register_run_id": register_run_id,
        "model_uri": info.model_uri,
        "sha256": checksums,
        "description": describe(params, arch, run, ev, provenance=False),
        **decision.to_json(),
    }
    path = Path(base.reports_dir) / "registry.json"
    runlog.write_json_apart(path, record, RUN_FACTS)
    marker = {k: record[k] for k in ("name", "version", "alias", "alias_version", "decision")}
    write_json(Path(base.models_dir) / REGISTERED_FILE, marker)
    log.info("registered %s as %s version %s; gate: %s (%s); @%s → version %s", arch, reg.model_name, version,
             decision.decision, decision.reason, reg.alias, alias_version)  # fmt: skip
    return record


def _champion(client: Any, name: str, alias: str) -> str | None:
    """The version the alias points to, or None (no such model or alias)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _gate(
    params: Params,
    arch: str,
    version: str,
    f1: float,
    champion: str | None,
    rows: list[dict[str, Any]],
    challenger_labels: list[str],
) -> gate.Decision:
    """Floor of the same run, then the champion re-scored by its registered pyfunc on the same test rows."""
    reg = params.registry
    floor = None
    floor_arch = None
    others = [a for a in floors(params.classifiers) if a != arch]
    if others and arch not in floors([arch]):  # the best linear floor of the same run
        evals = Path(params.base.reports_dir) / "eval"
        scores = {a: float(read_json(evals / f"{a}.json")["f1_macro"]) for a in others}
        floor_arch = max(scores, key=scores.__getitem__)
        floor = scores[floor_arch]
    comparison: dict[str, Any] | None = None
    if champion is not None and not gate.floor_failure(arch, f1, floor, reg, floor_arch):
        truth = [str(r["label_name"]) for r in rows]
        try:
            import mlflow

            model = load_registered(mlflow.MlflowClient(), reg.model_name, champion)
            champion_labels = _labels(model.predict(_frame(rows)))
        except Exception as err:  # any load or predict failure keeps the champion, with the reason
            comparison = {"error": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}
        else:
            labels = read_json(Path(params.base.processed_dir) / "classes.json")["labels"]
            comparison = gate.verdict(
                [p == t for p, t in zip(challenger_labels, truth, strict=True)],
                [p == t for p, t in zip(champion_labels, truth, strict=True)],
                reg.significance_level,
                params.evaluate.mcnemar_exact_below,
            )
            comparison.update(
                documents=len(rows),
                champion_f1_macro=gate.macro_f1(truth, champion_labels, labels),
                challenger_f1_macro=gate.macro_f1(truth, challenger_labels, labels),
            )
    return gate.decide(reg, arch, version, f1, floor, champion, comparison, floor_arch)


def _frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame({"text": [str(r["text"]) for r in rows]})


def _labels(frame: Any) -> list[str]:
    return [str(v) for v in frame["label"]]


def _read_optional(path: Path) -> dict[str, Any]:
    return read_json(path) if path.is_file() else {}


def _example_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    rows = rows[:2]
    return pd.DataFrame({"text": [r["text"][:200] for r in rows] or ["الخدمة ممتازة"]})


def _requirements() -> list[str]:
    from importlib import metadata

    out = []
    for name in ("mlflow", *REQUIREMENTS):
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return out
