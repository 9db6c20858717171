"""One way to load any trained classifier and predict class probabilities for split rows.

Every model folder written by the train or finetune stage (``<models_dir>/<arch>/``) holds a typed
``run.json`` (:class:`~pipeline.training.run_record.RunRecord`); the registry's kind of its architecture
(:func:`pipeline.models.registry.kind`: network, baseline or pretrained) says how to load it.
:func:`load_predictor` returns an object with ``predict_proba(rows)``
where ``rows`` are split rows (dicts with at least ``text`` and ``tokens``, as the preprocess stage
writes them): evaluation, latency timing, interpretability and the generation agreement check all use
this one interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from pipeline.data.jsonl import DataError, read_json
from pipeline.models.registry import ARCHITECTURES, kind
from pipeline.training.run_record import RunRecord

Row = dict[str, Any]


class Predictor(Protocol):
    """What every loaded classifier offers."""

    arch: str

    def predict_proba(self, rows: Sequence[Row]) -> list[list[float]]:
        """Class probabilities, one list per row (columns in ``classes.json`` order)."""
        ...


class BaselinePredictor:
    """``tfidf_linear``: scikit-learn pipeline over the rows' tokens."""

    def __init__(self, arch: str, model: Any) -> None:
        self.arch, self.model = arch, model

    def predict_proba(self, rows: Sequence[Row]) -> list[list[float]]:
        return self.model.predict_proba([r["tokens"] for r in rows])


class NetworkPredictor:
    """A trained network (:func:`load_classifier_network`) over the train-split vocabulary."""

    def __init__(
        self,
        arch: str,
        module: Any,
        vocab: Any,
        batch_size: int = 64,
        tokenise: Callable[[str], list[str]] | None = None,
        unknown: Callable[[str], int] | None = None,
    ) -> None:
        self.arch, self.module, self.vocab, self.batch_size = arch, module.eval(), vocab, batch_size
        self.tokenise = tokenise  # set when the model was trained with its own (tuned) preprocessing
        self.unknown = unknown  # fastText models: out-of-vocabulary words → nearest vocabulary word

    def encode(self, rows: Sequence[Row]) -> list[tuple[list[int], int]]:
        max_length = self.module.tp.max_length
        tokens = [self.tokenise(str(r["text"])) if self.tokenise else r["tokens"] for r in rows]
        return [
            (self.vocab.encode(t[:max_length], self.unknown) or [1], int(r.get("label", 0)))
            for t, r in zip(tokens, rows, strict=True)
        ]

    def predict_proba(self, rows: Sequence[Row]) -> list[list[float]]:
        import torch

        from pipeline.models.networks import collate

        items = self.encode(rows)
        out: list[list[float]] = []
        with torch.inference_mode():
            for i in range(0, len(items), self.batch_size):
                b = collate(items[i : i + self.batch_size])
                out.extend(torch.softmax(self.module(b["ids"], b["lengths"]), dim=-1).tolist())
        return out

    def explain(self, row: Row, method: str = "auto", steps: int = 32) -> dict[str, Any]:
        """Token scores for one row (see :mod:`pipeline.evaluation.interpret`): attention where the network has it,
        integrated gradients otherwise. Tokens are the row's preprocessed tokens (cut to ``max_length``)."""
        from pipeline.evaluation.interpret import explain_network

        tokens = list(r for r in row["tokens"][: self.module.tp.max_length]) or ["<unk>"]
        ids = self.vocab.encode(tokens)
        return explain_network(self.module.net, ids, tokens, method=method, steps=steps)


def _load_baseline(model_dir: Path, run: RunRecord, processed_dir: Path) -> Predictor:
    import joblib

    from pipeline.data.integrity import verify_checksum

    verify_checksum(model_dir / "model.joblib")  # before unpickling: refuse a file changed after it was written
    return BaselinePredictor(run.arch, joblib.load(model_dir / "model.joblib"))


def load_classifier_network(checkpoint: Path) -> Any:
    """The network of a train-stage checkpoint (``best.ckpt``), for inference, without importing Lightning (about
    3 s of every evaluate/export/register/generate process and of the server's start): built from the
    checkpoint's hyper-parameters by the same ``build_network`` as training, its ``net.*`` weights loaded
    strictly. Returns a module with ``net``, ``tp`` (the train params) and ``forward`` = ``net``'s."""
    import torch

    from pipeline.config import TrainParams
    from pipeline.models.networks import TrainedNetwork, build_network

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    hp = ckpt["hyper_parameters"]
    tp = TrainParams(**hp["settings"])
    net = build_network(hp["arch"], hp["vocab_size"], hp["num_classes"], tp)
    net.load_state_dict({k[len("net.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")})
    return TrainedNetwork(net, tp).eval()


def _load_network(model_dir: Path, run: RunRecord, processed_dir: Path) -> Predictor:
    from pipeline.text.vocab import Vocab

    module = load_classifier_network(model_dir / "best.ckpt")
    tokenise = None
    vocab_file = processed_dir / "vocab.json"
    if (model_dir / "preprocess.json").is_file():  # tuned preprocessing: own vocabulary, re-tokenise from text
        from pipeline.config import PreprocessParams
        from pipeline.text.processor import TextProcessor

        tokenise = TextProcessor(PreprocessParams(**read_json(model_dir / "preprocess.json")["preprocess"]))
        vocab_file = model_dir / "vocab.json"
    vocab = Vocab.load(vocab_file)
    unknown = None
    if module.tp.embedding_init == "fasttext":
        from pipeline.models.vectors import oov_mapper

        unknown = oov_mapper(Path(run.params["base.models_dir"]), "fasttext", vocab)
    return NetworkPredictor(run.arch, module, vocab, tokenise=tokenise, unknown=unknown)


class EnsemblePredictor:
    """The ensemble stage's classifier: its members' probabilities combined by the fitted combiner."""

    def __init__(self, arch: str, members: list[Predictor], combiner: Any) -> None:
        self.arch, self.members, self.combiner = arch, members, combiner

    def predict_proba(self, rows: Sequence[Row]) -> list[list[float]]:
        import numpy as np

        if not rows:
            return []
        return self.combiner.combine([np.asarray(m.predict_proba(rows)) for m in self.members]).tolist()


def _load_ensemble(model_dir: Path, run: RunRecord, processed_dir: Path) -> Predictor:
    from pipeline.models.ensemble import Combiner

    combiner = Combiner.from_json(read_json(model_dir / "ensemble.json"))
    members = [load_predictor(model_dir / "members" / arch, processed_dir) for arch in combiner.members]
    return EnsemblePredictor(run.arch, members, combiner)


def _load_pretrained(model_dir: Path, run: RunRecord, processed_dir: Path) -> Predictor:
    from pipeline.pretrained.predictor import PretrainedPredictor

    return PretrainedPredictor.from_folder(run.arch, model_dir / "best", run.normalize, int(run.max_length or 0))


Loader = Callable[[Path, RunRecord, Path], Predictor]
LOADERS: dict[str, Loader] = {
    "baseline": _load_baseline,
    "network": _load_network,
    "pretrained": _load_pretrained,
    "ensemble": _load_ensemble,
}


def load_predictor(model_dir: str | Path, processed_dir: str | Path) -> Predictor:
    """The classifier trained into ``model_dir``; ``processed_dir`` holds its vocabulary."""
    model_dir, processed_dir = Path(model_dir), Path(processed_dir)
    run = RunRecord.load(model_dir)
    if run.family == "ensemble":
        return LOADERS["ensemble"](model_dir, run, processed_dir)
    if run.arch not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise DataError(f"{model_dir / 'run.json'}: unknown architecture {run.arch!r}; known: {known}")
    return LOADERS[kind(run.arch)](model_dir, run, processed_dir)
