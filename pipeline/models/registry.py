"""Registry of classifier architectures, by name.

Kept free of torch imports so that validating ``params.yaml`` stays fast. One
recurrent encoder with a cell type and a direction flag covers RNN/BiRNN,
GRU/BiGRU and LSTM/BiLSTM; the other neural families (transformer, cnn, encdec) have a
builder each in :mod:`pipeline.models.networks`. The linear floors
(family ``baseline``: ``tfidf_linear``, ``tfidf_char_word``, ``nbsvm``) are fitted by
:mod:`pipeline.models.baselines` in the same train stage. Family
``pretrained`` (``bert``, ``electra``) are Hugging Face checkpoints fine-tuned by the finetune stage.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArchSpec:
    """What a name in ``train.architectures`` means."""

    family: str
    description: str
    options: tuple[tuple[str, object], ...] = ()

    def option(self, key: str, default: object = None) -> object:
        return dict(self.options).get(key, default)


def _recurrent(cell: str, bidirectional: bool) -> ArchSpec:
    prefix = "bidirectional " if bidirectional else ""
    return ArchSpec(
        family="recurrent",
        description=f"{prefix}{cell.upper()} encoder over learned embeddings",
        options=(("cell", cell), ("bidirectional", bidirectional)),
    )


ARCHITECTURES: dict[str, ArchSpec] = {
    "rnn": _recurrent("rnn", False),
    "birnn": _recurrent("rnn", True),
    "gru": _recurrent("gru", False),
    "bigru": _recurrent("gru", True),
    "lstm": _recurrent("lstm", False),
    "bilstm": _recurrent("lstm", True),
    "transformer": ArchSpec(
        family="transformer",
        description="Transformer encoder (self-attention, padding masks) over learned token + position embeddings",
    ),
    "cnn": ArchSpec(
        family="cnn",
        description="1-D CNN over embeddings: several kernel sizes, max-over-time pooling",
    ),
    "nbow": ArchSpec(
        family="ngram_bag",
        description="fastText-style classifier: mean of word and hashed word-bigram embeddings, linear head",
    ),
    "cnn_bag": ArchSpec(
        family="cnn_bag",
        description="Wide and deep: the cnn's pooled features next to nbow's mean of word and hashed bigram "
        "embeddings, one shared word embedding",
    ),
    "encdec": ArchSpec(
        family="encdec",
        description="Encoder-decoder classifier: BiGRU encoder, attention-pooled context, MLP decoder head",
        options=(("cell", "gru"), ("bidirectional", True)),
    ),
    "tfidf_linear": ArchSpec(
        family="baseline",
        description="TF-IDF word 1-2-grams + logistic regression (C chosen on validation macro-F1)",
    ),
    "tfidf_char_word": ArchSpec(
        family="baseline",
        description="TF-IDF word 1-2-grams and character 2-5-grams within word boundaries + logistic regression "
        "(C chosen on validation macro-F1)",
    ),
    "nbsvm": ArchSpec(
        family="baseline",
        description="NB-SVM (Wang & Manning 2012): binarised word 1-2-grams scaled by naive-Bayes log-count ratios, "
        "linear SVM per class (C chosen on validation macro-F1)",
    ),
    "bert": ArchSpec(
        family="pretrained",
        description="BERT-style encoder (our MLM-pretrained one offline, or any checkpoint) fine-tuned for classification",
        options=(("offline_default", True),),
    ),
    "electra": ArchSpec(
        family="pretrained",
        description="ELECTRA discriminator (a hub name or local folder) fine-tuned for classification",
        options=(("offline_default", False),),
    ),
}

NEURAL_FAMILIES = ("recurrent", "transformer", "cnn", "encdec", "ngram_bag", "cnn_bag")


def kind(arch: str) -> str:
    """How an architecture is trained and loaded: ``network`` (train stage, Lightning), ``baseline``
    (train stage, scikit-learn) or ``pretrained`` (finetune stage, Hugging Face)."""
    family = ARCHITECTURES[arch].family
    if family in NEURAL_FAMILIES:
        return "network"
    return "pretrained" if family == "pretrained" else "baseline"


def floors(names: list[str]) -> list[str]:
    """The linear floors (family ``baseline``) among ``names``."""
    return [a for a in names if a in ARCHITECTURES and ARCHITECTURES[a].family == "baseline"]


def is_neural(arch: str) -> bool:
    """True for networks trained by the train stage; False for the scikit-learn baseline and the
    pretrained transformers (fine-tuned by the finetune stage)."""
    return kind(arch) == "network"


def is_pretrained(arch: str) -> bool:
    """True for Hugging Face checkpoints fine-tuned by the finetune stage (``finetune.architectures``)."""
    return arch in ARCHITECTURES and kind(arch) == "pretrained"
