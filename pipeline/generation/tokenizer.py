"""The shared LM tokenizer: byte-level BPE trained on the train split only, with class tokens.

Saved with ``save_pretrained`` (a ``transformers`` fast tokenizer: ``tokenizer.json`` + config) and a
``lm_meta.json``: ``labels``, ``class_tokens`` (label → token, e.g. ``negative`` → ``<negative>``),
``trained_on`` (``train``), ``documents``, ``normalization``. Both language models use it, so their
perplexities are per the same tokens. A fine-tuned hub checkpoint keeps its own tokenizer, to which
:func:`add_lm_tokens` adds the class tokens (and ``</s>`` if it has no end-of-text token).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pipeline.data.jsonl import DataError, read_json, write_json

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
META_FILE = "lm_meta.json"


def class_token(label: str) -> str:
    return f"<{label}>"


def train_tokenizer(texts: Iterable[str], labels: Sequence[str], vocab_size: int, min_frequency: int) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` learnt from ``texts`` (already normalised)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    classes = [class_token(lab) for lab in labels]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts,
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[PAD, BOS, EOS, *classes],
        show_progress=False,
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD, additional_special_tokens=classes
    )


def add_lm_tokens(tokenizer: Any, labels: Sequence[str]) -> Any:
    """Make a (hub) tokenizer usable here: an end-of-text token, a start token (the end one if it has
    none) and one class token per label."""
    if tokenizer.eos_token is None:
        tokenizer.add_special_tokens({"eos_token": EOS})
    if tokenizer.bos_token is None:
        tokenizer.bos_token = tokenizer.eos_token
    missing = [class_token(lab) for lab in labels if class_token(lab) not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    return tokenizer


def save_tokenizer(tokenizer: Any, folder: Path, labels: Sequence[str], **meta: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(folder))
    write_json(
        folder / META_FILE,
        {"labels": list(labels), "class_tokens": {lab: class_token(lab) for lab in labels}, **meta},
    )


def load_tokenizer(folder: str | Path) -> tuple[Any, dict[str, Any]]:
    """The tokenizer saved in ``folder`` and its ``lm_meta.json``."""
    from transformers import AutoTokenizer

    folder = Path(folder)
    if not (folder / META_FILE).is_file():
        raise DataError(f"{folder / META_FILE}: no LM tokenizer here (run `dvc repro lm_tokenizer` first)")
    return AutoTokenizer.from_pretrained(str(folder)), read_json(folder / META_FILE)


class Codec:
    """What the LMs need from a tokenizer: text ↔ ids, start/end ids, the class-token ids."""

    def __init__(self, tokenizer: Any, labels: Sequence[str]) -> None:
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.bos_id = int(tokenizer.bos_token_id)
        self.eos_id = int(tokenizer.eos_token_id)
        vocab = tokenizer.get_vocab()
        self.class_ids = {lab: int(vocab[class_token(lab)]) for lab in labels}
        self.vocab_size = len(tokenizer)
        # never generated: every special token except the end of text
        self.banned_ids = sorted({int(i) for i in tokenizer.all_special_ids} | set(self.class_ids.values()))
        self.banned_ids = [i for i in self.banned_ids if i != self.eos_id]

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True)).strip()

    def class_index(self, label: str | None) -> int:
        """The class id the models condition every position on: 0 for none, 1 + the label's index."""
        if label is None:
            return 0
        if label not in self.class_ids:
            raise DataError(f"unknown label {label!r}; the models know: {', '.join(self.labels)}")
        return 1 + self.labels.index(label)

    def prefix(self, label: str | None) -> list[int]:
        """``<s>`` then the class token of ``label`` (none when ``label`` is None)."""
        if label is not None and label not in self.class_ids:
            raise DataError(f"unknown label {label!r}; the models know: {', '.join(self.labels)}")
        return [self.bos_id] + ([self.class_ids[label]] if label is not None else [])
