"""What a trial trains and validates on: the train and val splits only (the test split is never read).

Without ``preprocess.*`` keys in a trial, the preprocess stage's tokens and vocabulary are used. With
them, the rows' raw ``text`` is re-tokenised with the trial's settings and a train-only vocabulary is
built the way the preprocess stage builds it; results are cached per preprocessing configuration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import PreprocessParams
from pipeline.data.jsonl import read_json
from pipeline.data.split import read_split
from pipeline.text.retokenise import retokenise, train_vocab
from pipeline.text.vocab import Vocab

TUNING_SPLITS = ("train", "val")  # never "test"


@dataclass(frozen=True)
class Tokenised:
    """Token lists and labels of train and val under one preprocessing configuration."""

    vocab: Vocab
    tokens: dict[str, list[list[str]]]
    labels: dict[str, list[int]]

    def items(
        self, split: str, max_length: int, unknown: Callable[[str], int] | None = None
    ) -> list[tuple[list[int], int]]:
        """(ids, label) pairs cut to ``max_length`` tokens, as the training data module makes them
        (``unknown`` maps out-of-vocabulary words, as fastText training does)."""
        enc = self.vocab.encode
        pairs = zip(self.tokens[split], self.labels[split], strict=True)
        return [(enc(t[:max_length], unknown) or [1], y) for t, y in pairs]


class TrialData:
    """The processed train/val rows, tokenised per preprocessing configuration on demand."""

    def __init__(self, processed_dir: str | Path) -> None:
        self.dir = Path(processed_dir)
        self.rows = {name: read_split(self.dir / f"{name}.jsonl") for name in TUNING_SPLITS}
        self.num_classes = len(read_json(self.dir / "classes.json")["labels"])
        self._cache: dict[str, Tokenised] = {}

    def fingerprint(self) -> str:
        """Hash of what trials see: ids, labels, texts and tokens of train/val, the class labels and the
        vocabulary (not URLs, which carry the demo site's random port)."""
        h = hashlib.sha256()
        for name in TUNING_SPLITS:
            for r in self.rows[name]:
                h.update(json.dumps([r["id"], r["label"], r["text"], r["tokens"]], ensure_ascii=False).encode())
        h.update((self.dir / "classes.json").read_bytes())
        h.update((self.dir / "vocab.json").read_bytes())
        return h.hexdigest()

    def tokenised(self, pp: PreprocessParams | None) -> Tokenised:
        """The stage's own tokens (``pp`` None) or re-tokenised ones under ``pp``."""
        key = "stage" if pp is None else json.dumps(pp.model_dump(), sort_keys=True)
        if key not in self._cache:
            labels = {name: [int(r["label"]) for r in self.rows[name]] for name in TUNING_SPLITS}
            if pp is None:
                tokens = {name: [list(r["tokens"]) for r in self.rows[name]] for name in TUNING_SPLITS}
                vocab = Vocab.load(self.dir / "vocab.json")
            else:
                tokens = {name: retokenise(self.rows[name], pp) for name in TUNING_SPLITS}
                vocab = train_vocab(tokens["train"], pp)
            self._cache[key] = Tokenised(vocab, tokens, labels)
        return self._cache[key]


def summary(t: Tokenised) -> dict[str, Any]:
    return {"vocab_size": len(t.vocab), "train_docs": len(t.labels["train"]), "val_docs": len(t.labels["val"])}
