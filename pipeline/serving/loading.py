"""The classifier the HTTP server answers with: from the MLflow registry (the default), or a model folder.

A registry URI (``models:/<name>@<alias>`` or ``models:/<name>/<version>``) loads the registered pyfunc
(:class:`~pipeline.serving.pyfunc.ReviewClassifier`) and uses its own preprocessing and predictor, the ones
saved with the model; a folder (``models/<arch>``) goes through :func:`~pipeline.serving.predict.load_predictor`
with the project's ``preprocess`` params and ``classes.json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Params
from pipeline.data.jsonl import DataError, read_json
from pipeline.serving.predict import Predictor

RUNTIMES = ("torch", "onnx", "onnx-int8")
URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))")


@dataclass
class ServedModel:
    """A loaded classifier: its name and version, class labels, the text processor saved with it, the predictor."""

    name: str
    version: str
    labels: list[str]
    processor: Callable[[str], list[str]]
    predictor: Predictor

    def rows(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Split-like rows for raw texts: the model's own preprocessing gives the tokens."""
        return [{"id": str(i), "text": t, "tokens": self.processor(t), "label": 0} for i, t in enumerate(texts)]

    def predict_proba(self, texts: Sequence[str]) -> list[list[float]]:
        return self.predictor.predict_proba(self.rows(texts)) if texts else []

    def classify(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """``[{"label", "probabilities": {class: p}}]``, one per text."""
        out = []
        for probs in self.predict_proba(texts):
            best = max(range(len(probs)), key=probs.__getitem__)
            probabilities = dict(zip(self.labels, map(float, probs), strict=True))
            out.append({"label": self.labels[best], "probabilities": probabilities})
        return out

    def explain(self, text: str, steps: int = 32) -> dict[str, Any]:
        """Token scores for one text, by the predictor's ``explain`` (the method of the report)."""
        explain = getattr(self.predictor, "explain", None)
        if explain is None:
            raise ValueError(f"{self.predictor.arch} models have no token explanations")
        (row,) = self.rows([text])
        tokenise = getattr(self.predictor, "tokenise", None)
        if tokenise is not None:  # a tuned model re-tokenises the raw text with its own settings
            row["tokens"] = tokenise(text)
        try:
            exp = explain(row, steps=steps)
        except TypeError:  # an explain() without the steps argument (other families)
            exp = explain(row)
        return {**exp, "label": self.labels[int(exp["predicted"])]}


def default_uri(params: Params) -> str:
    return f"models:/{params.registry.model_name}@{params.registry.alias}"


def load_served(spec: str, params: Params, runtime: str = "torch") -> ServedModel:
    """``spec``: a ``models:/`` URI, a model folder, or empty for ``models:/<registry.model_name>@<registry.alias>``;
    ``runtime``: ``torch``, or ``onnx`` / ``onnx-int8`` (the export stage's file of the model's architecture)."""
    spec = spec or default_uri(params)
    served = _from_registry(spec, params) if spec.startswith("models:/") else _from_folder(Path(spec), params)
    if runtime != "torch":
        served.predictor = _onnx(served.predictor, params, runtime)
    return served


def _onnx(predictor: Predictor, params: Params, runtime: str) -> Predictor:
    from pipeline.serving.export import OnnxPredictor, exportable, onnx_files

    if runtime not in RUNTIMES:
        raise DataError(f"--runtime {runtime!r}; allowed: {', '.join(RUNTIMES)}")
    if not exportable(predictor.arch):
        raise DataError(f"--runtime {runtime}: {predictor.arch} models have no ONNX export; use --runtime torch")
    files = onnx_files(Path(params.base.models_dir) / "export", predictor.arch)
    path = files["int8" if runtime == "onnx-int8" else "fp32"]
    if not path.is_file():
        raise DataError(f"--runtime {runtime}: no {path} (run `dvc repro export`)")
    import torch

    return OnnxPredictor(predictor, path, threads=torch.get_num_threads())  # the serve command's thread policy


def _from_registry(uri: str, params: Params) -> ServedModel:
    import mlflow
    from mlflow.exceptions import MlflowException

    from pipeline.serving.pyfunc import load_registered
    from pipeline.tracking import tracking_uri

    match = URI.fullmatch(uri)
    if match is None:
        raise DataError(f"serve.model: {uri!r} is not models:/<name>@<alias> nor models:/<name>/<version>")
    mlflow.set_tracking_uri(tracking_uri(params.base))
    client = mlflow.MlflowClient()
    name = match["name"]
    try:
        version = match["version"] or client.get_model_version_by_alias(name, match["alias"]).version
        model = load_registered(client, name, str(version)).unwrap_python_model()
    except MlflowException as err:
        raise DataError(f"serve.model: cannot load {uri!r} from {tracking_uri(params.base)}: {err.message}") from None
    return ServedModel(name, str(version), list(model.labels), model.processor, model.predictor)


def _from_folder(model_dir: Path, params: Params) -> ServedModel:
    from pipeline.serving.predict import load_predictor
    from pipeline.text.processor import TextProcessor

    if not (model_dir / "run.json").is_file():
        raise DataError(f"serve.model: {model_dir} is not a model folder (no run.json) nor a models:/ URI")
    processed = Path(params.base.processed_dir)
    labels = list(read_json(processed / "classes.json")["labels"])
    predictor = load_predictor(model_dir, processed)
    return ServedModel(predictor.arch, "folder", labels, TextProcessor(params.preprocess), predictor)
