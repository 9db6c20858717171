"""The MLflow ``pyfunc`` model that the register stage logs: raw text in, labels and probabilities out.

Its artifacts are the trained model folder, ``classes.json`` + ``vocab.json`` and the ``preprocess``
params (JSON); the ``pipeline`` package travels with it (``code_paths``), so a registered version loads
anywhere the pinned requirements are installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd


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
