"""The ``train`` section (the classifiers trained by the train stage) and ``embeddings`` (their optional
word2vec/fastText initialisation)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config.base import Section
from pipeline.config.trainer import EarlyStoppingParams
from pipeline.models.registry import ARCHITECTURES, is_pretrained


class TrainParams(EarlyStoppingParams):
    """The train stage: one model per architecture (Trainer keys from :class:`EarlyStoppingParams`)."""

    architectures: list[str] = Field(
        default_factory=lambda: ["lstm", "gru"], description="Architectures to train, one DVC stage each."
    )
    seeds: list[int] = Field(
        default_factory=list,
        description="Train each architecture once per seed (the first is the primary model, the others go to "
        "models/<arch>/seeds/<seed>/; the report gives mean ± std). Empty: once, with base.seed.",
    )
    batch_size: int = Field(32, ge=1, description="Training batch size.")
    lr: float = Field(3e-3, gt=0, description="Adam learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="Adam weight decay.")
    embedding_dim: int = Field(32, ge=1, description="Token embedding size.")
    embedding_init: Literal["random", "word2vec", "fasttext"] = Field(
        "random",
        description="Initial embeddings: random, or word2vec / fastText vectors the embeddings stage trains on the "
        "train + val text (fastText also maps out-of-vocabulary words to their nearest vocabulary word).",
    )
    freeze_embeddings: bool = Field(
        False, description="Keep the word2vec/fastText embeddings fixed during training (false: fine-tune them)."
    )
    hidden_dim: int = Field(32, ge=1, description="Recurrent hidden size (per direction).")
    num_layers: int = Field(1, ge=1, description="Stacked recurrent layers.")
    dropout: float = Field(0.5, ge=0, lt=1, description="Dropout before the classifier head.")
    pooling: Literal["last", "mean", "max", "attention"] = Field(
        "mean",
        description="How token states become one vector (recurrent and transformer): last real step, mean, max, "
        "or attention (a learned score per token, softmax over real tokens).",
    )
    transformer_layers: int = Field(2, ge=1, description="transformer: encoder layers.")
    transformer_heads: int = Field(2, ge=1, description="transformer: attention heads (must divide embedding_dim).")
    transformer_ff_dim: int = Field(64, ge=1, description="transformer: feed-forward width (dim_feedforward).")
    transformer_dropout: float = Field(0.1, ge=0, lt=1, description="transformer: dropout inside encoder layers.")
    cnn_kernel_sizes: list[int] = Field(
        default_factory=lambda: [2, 3, 4], description="cnn, cnn_bag: one convolution per kernel size (tokens)."
    )
    cnn_filters: int = Field(32, ge=1, description="cnn, cnn_bag: filters per kernel size.")
    ngram_buckets: int = Field(
        50_000,
        ge=2,
        description="nbow, cnn_bag: rows of the hashed word-bigram table (row 0 is padding's, always zero).",
    )
    max_length: int = Field(200, ge=1, description="Tokens kept per document (the rest is cut).")
    scheduler: Literal["none", "linear", "cosine", "plateau"] = Field(
        "none",
        description="LR schedule: none (constant); linear or cosine (warmup_ratio of the steps linear warmup, then "
        "linear/cosine decay to 0, per step); plateau (ReduceLROnPlateau on val/f1_macro, halves the LR).",
    )
    warmup_ratio: float = Field(
        0.0, ge=0, lt=1, description="linear/cosine: fraction of all training steps spent warming up."
    )
    class_weights: Literal["none", "balanced"] = Field(
        "none",
        description="Loss weights per class: none, or balanced (n_train / (n_classes * count), from the train split).",
    )
    prior_correction: Literal["auto", "none"] = Field(
        "auto",
        description="auto: per-class logit offsets (-alpha * log train prior, alpha in -1..1) chosen on validation "
        "macro-F1 among those whose validation accuracy reaches the majority class's, folded into the saved "
        "network's output bias (a no-op on balanced classes); none: the network as trained.",
    )
    resume: bool = Field(
        True,
        description="Resume an interrupted training from its last.ckpt in state_dir (only with the same params and "
        "data; false: start afresh).",
    )
    state_dir: str = Field(
        "data/train-state", description="last.ckpt of unfinished trainings, one folder per architecture."
    )

    @field_validator("architectures")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one architecture")
        for name in value:
            if name not in ARCHITECTURES:
                raise ValueError(f"unknown architecture {name!r}; allowed: {', '.join(sorted(ARCHITECTURES))}")
            if is_pretrained(name):
                raise ValueError(f"{name!r} is a pretrained transformer: use finetune.architectures")
        if len(set(value)) != len(value):
            raise ValueError(f"lists an architecture twice: {value}")
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"lists a seed twice: {value}")
        if any(s < 0 for s in value):
            raise ValueError(f"seeds must be >= 0, got {value}")
        return value

    @field_validator("cnn_kernel_sizes")
    @classmethod
    def _kernels(cls, value: list[int]) -> list[int]:
        if not value or any(k < 1 for k in value):
            raise ValueError(f"needs at least one kernel size, each >= 1, got {value}")
        return value

    @model_validator(mode="after")
    def _heads_divide(self) -> TrainParams:
        if self.embedding_dim % self.transformer_heads:
            raise ValueError(
                f"train.transformer_heads ({self.transformer_heads}) must divide train.embedding_dim "
                f"({self.embedding_dim})"
            )
        return self


class EmbeddingsParams(Section):
    corpus: Literal["splits", "all"] = Field(
        "all",
        description="Text the vectors learn from: `splits` = the train + val splits' tokens; `all` = every document of "
        "the data source, labelled or not, plus pretrain.corpus_dir, minus the test split and its near-duplicates "
        "(the pretraining corpus), tokenised like the splits.",
    )
    window: int = Field(5, ge=1, description="Context window (words each side).")
    min_count: int = Field(1, ge=1, description="Words rarer than this in the corpus get no own vector.")
    epochs: int = Field(10, ge=1, description="Passes over the corpus.")
    skip_gram: bool = Field(True, description="Skip-gram (true) or CBOW (false).")
    min_n: int = Field(3, ge=1, description="fastText: shortest character n-gram.")
    max_n: int = Field(5, ge=1, description="fastText: longest character n-gram.")
    buckets: int = Field(
        100_000, ge=1000, description="fastText: hash buckets for n-gram vectors (memory = buckets x dim floats)."
    )

    @model_validator(mode="after")
    def _ngram_range(self) -> EmbeddingsParams:
        if self.min_n > self.max_n:
            raise ValueError(f"embeddings.min_n ({self.min_n}) must not exceed embeddings.max_n ({self.max_n})")
        return self
