"""Stage **register**: the best classifier into the MLflow model registry, loadable by name.

The model is chosen by validation macro-F1 (``registry.select_by: val``, the default: the test split
was not used to choose it, so its test figures stay an unbiased estimate; ties go to fewer parameters,
then the name) or by test macro-F1 (``test``). It is logged as an ``mlflow.pyfunc`` model wrapping the
project's preprocessing and predictor, so raw Arabic text goes in::

    mlflow.pyfunc.load_model("models:/arabic-reviews-classifier@champion").predict(
        pandas.DataFrame({"text": ["الخدمة ممتازة"]}))

returns a DataFrame with ``label``, ``label_id``, ``confidence`` and one ``p_<label>`` column per class.
The registered version carries the test metrics, intervals and provenance as tags and description, and
``registry.alias`` moves to it. ``<reports_dir>/registry.json`` records what was registered.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pipeline import cli
from pipeline.config import Params, load_params
from pipeline.data.jsonl import DataError, read_json, write_json
from pipeline.serving.pyfunc import ReviewClassifier
from pipeline.tracking import provenance_tags, setup_mlflow, tracking_uri
from pipeline.training.run_record import RunRecord

log = logging.getLogger("register")
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


def describe(params: Params, arch: str, run: RunRecord, ev: dict[str, Any]) -> str:
    """The registered version's description: what was chosen, its test figures with their interval (at the level
    the evaluate stage recorded, else ``evaluate.confidence_level``) and provenance."""
    interval = ""
    if "ci" in ev:
        level = ev["ci"].get("level", params.evaluate.confidence_level)
        ci = ev["ci"]["f1_macro"]
        interval = f" ({100 * level:g}% CI {ci['low']:.4f}–{ci['high']:.4f})"
    return (
        f"{arch} ({run.family}), chosen by {params.registry.select_by} macro-F1 among "
        f"{', '.join(params.classifiers)}. Test accuracy {ev['accuracy']:.4f}, macro-F1 {ev['f1_macro']:.4f}"
        f"{interval}. Training run {run.mlflow_run_id}, git {run.git_commit}."
    )


def register(params: Params) -> dict[str, Any]:
    """Log the selected classifier as a pyfunc model, register it and move the alias to the new version."""
    import mlflow
    from mlflow.models import infer_signature

    base, reg = params.base, params.registry
    arch, run, ev = select(params)
    setup_mlflow(base)
    client = mlflow.MlflowClient(tracking_uri(base))
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
        example = _example_frame(base.processed_dir)
        loaded = ReviewClassifier()
        loaded.load_context(SimpleNamespace(artifacts=artifacts))
        signature = infer_signature(example, loaded.predict(None, example))
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
    description = describe(params, arch, run, ev)
    client.update_model_version(reg.model_name, version, description=description)
    for key, value in {**metrics, "arch": arch, "training_run_id": run.mlflow_run_id,
                       "git_commit": run.git_commit, "selected_by": reg.select_by}.items():  # fmt: skip
        client.set_model_version_tag(reg.model_name, version, key, str(value))
    client.set_registered_model_alias(reg.model_name, reg.alias, version)
    record = {
        "name": reg.model_name,
        "version": version,
        "alias": reg.alias,
        "uri": f"models:/{reg.model_name}@{reg.alias}",
        "arch": arch,
        "selected_by": reg.select_by,
        "metrics": metrics,
        "training_run_id": run.mlflow_run_id,
        "register_run_id": register_run_id,
        "model_uri": info.model_uri,
        "description": description,
    }
    write_json(Path(base.reports_dir) / "registry.json", record)
    log.info("registered %s as %s version %s (@%s)", arch, reg.model_name, version, reg.alias)
    return record


def _example_frame(processed_dir: str) -> Any:
    import pandas as pd

    from pipeline.data.split import read_split

    rows = read_split(Path(processed_dir) / "test.jsonl")[:2]
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


def main() -> None:
    cli.parser(__doc__).parse_args()
    register(load_params())


if __name__ == "__main__":
    cli.run(main)
