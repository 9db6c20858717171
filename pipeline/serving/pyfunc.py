"""The MLflow ``pyfunc`` model that the register stage logs: raw text in, labels and probabilities out.

Its artifacts are the trained model folder, ``classes.json`` + ``vocab.json`` and the ``preprocess``
params (JSON); the ``pipeline`` package travels with it (``code_paths``), so a registered version loads
anywhere the pinned requirements are installed.

MLflow saves the model object itself with cloudpickle (``python_model.pkl``), and the model folder may hold a
joblib pickle: the sha256 of every pickled file of a logged model is recorded as a tag of its registry version
(``sha256/<path>``) when it is registered, with one digest over all its files (the stored ``code/`` is imported
on loading), and :func:`load_registered` verifies them before anything is unpickled or imported.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from pipeline.data.integrity import ChecksumError, sha256_file, verify_checksum

PICKLES = ("*.pkl", "*.joblib")  # cloudpickle (the python model), joblib (linear floors)
TAG_PREFIX = "sha256/"
TREE = "all-files"  # the key of the digest over every file of the model, the code it imports included


def pickled_files(model_dir: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of each pickled file in a local copy of a logged pyfunc model."""
    found = {p for pattern in PICKLES for p in model_dir.rglob(pattern)}
    return {p.relative_to(model_dir).as_posix(): sha256_file(p) for p in sorted(found)}


def tree_digest(model_dir: Path) -> str:
    """sha256 over the relative path and sha256 of every file of a local copy of a logged model: the ``pipeline``
    package stored with it (``code/``) is imported when it loads, so it must be the registered one too."""
    h = hashlib.sha256()
    for p in sorted(f for f in model_dir.rglob("*") if f.is_file()):
        h.update(f"{p.relative_to(model_dir).as_posix()}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


def record_checksums(client: Any, name: str, version: str) -> dict[str, str]:
    """Tag registry version ``name``/``version`` with the sha256 of each of its pickled files and of all its
    files together (key :data:`TREE`); return them."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=tmp))
        sums = {**pickled_files(local), TREE: tree_digest(local)}
    for rel, digest in sums.items():
        client.set_model_version_tag(name, version, TAG_PREFIX + rel, digest)
    return sums


def load_registered(client: Any, name: str, version: str) -> Any:
    """The pyfunc model of registry version ``name``/``version``, its pickled files verified first against the
    checksums its version tags recorded at registration (a missing or different one: :class:`ChecksumError`)."""
    tags = client.get_model_version(name, version).tags
    expected = {k[len(TAG_PREFIX) :]: v for k, v in tags.items() if k.startswith(TAG_PREFIX)}
    # Kept after loading: the model reads its artifact files while it loads (and may read some later).
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=tempfile.mkdtemp(prefix="pyfunc-")
        )
    )
    for rel in pickled_files(local):
        if rel not in expected:
            raise ChecksumError(
                f"models:/{name}/{version}: {rel} has no sha256 recorded in its version tags ({TAG_PREFIX}{rel}); "
                "only versions registered with checksums are loaded: register the model again"
            )
        try:
            verify_checksum(local / rel, expected[rel])
        except ChecksumError as err:
            raise ChecksumError(f"models:/{name}/{version}: {err}") from None
    tree = tree_digest(local)
    if tree != expected.get(TREE):
        raise ChecksumError(
            f"models:/{name}/{version}: its files (code/ included) have sha256 {tree}, not the recorded "
            f"{expected.get(TREE, '(none)')}; a file changed after registration, refusing to load it"
        )
    return mlflow.pyfunc.load_model(str(local))


class ReviewClassifier(mlflow.pyfunc.PythonModel):
    """Raw text → the project's preprocessing → the trained predictor → labels and probabilities."""

    def load_context(self, context: Any) -> None:
        from pipeline.config import PreprocessParams
        from pipeline.serving.predict import load_predictor
        from pipeline.text.processor import TextProcessor

        art = context.artifacts
        pre = json.loads(Path(art["preprocess"]).read_text(encoding="utf-8"))
        if "stopwords" in art:
            pre["stopwords_file"] = art["stopwords"]
        self.processor = TextProcessor(PreprocessParams(**pre))
        self.labels = json.loads((Path(art["processed"]) / "classes.json").read_text(encoding="utf-8"))["labels"]
        self.predictor = load_predictor(art["model"], art["processed"])

    # model_input is a DataFrame (a list of texts works too): MLflow derives no signature from that hint and
    # validates nothing by it (the logged signature, a string column `text`, comes from an example), and without
    # a hint it warns "Add type hints to the `predict` method" on every import and log_model.
    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if isinstance(model_input, pd.DataFrame):
            if "text" not in model_input.columns:
                raise ValueError(f"input needs a 'text' column; got columns {list(model_input.columns)}")
            texts = [str(t) for t in model_input["text"]]
        else:
            texts = [str(t) for t in model_input]
        rows = [{"id": str(i), "text": t, "tokens": self.processor(t), "label": 0} for i, t in enumerate(texts)]
        probs = self.predictor.predict_proba(rows) if rows else []
        out = pd.DataFrame([{f"p_{lab}": float(p[k]) for k, lab in enumerate(self.labels)} for p in probs])
        ids = [max(range(len(p)), key=p.__getitem__) for p in probs]
        out.insert(0, "confidence", [float(max(p)) for p in probs])
        out.insert(0, "label_id", ids)
        out.insert(0, "label", [self.labels[i] for i in ids])
        return out


def adopt(client: Any, name: str) -> list[str]:
    """Record checksums for the versions of ``name`` registered without them (before checksums existed), trusting
    their stored files as they are now; return those versions."""
    adopted = []
    for mv in client.search_model_versions(f"name = '{name}'"):
        if not any(k.startswith(TAG_PREFIX) for k in mv.tags):
            record_checksums(client, name, str(mv.version))
            adopted.append(str(mv.version))
    return adopted


def main() -> None:
    """``python -m pipeline.serving.pyfunc``: record checksums for the versions of ``registry.model_name`` that
    were registered before the pipeline recorded any (trust on first use: only when you trust the stored files)."""
    import logging

    from pipeline import cli
    from pipeline.config import load_params
    from pipeline.tracking import setup_mlflow, tracking_uri

    cli.parser(main.__doc__).parse_args()
    params = load_params()
    setup_mlflow(params.base)
    versions = adopt(mlflow.MlflowClient(tracking_uri(params.base)), params.registry.model_name)
    logging.getLogger("register").info("recorded checksums for versions %s", versions or "(none needed)")


if __name__ == "__main__":
    from pipeline import cli

    cli.run(main)
