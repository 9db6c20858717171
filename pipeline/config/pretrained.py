"""The ``pretrain`` section (a small BERT pre-trained on our corpus) and ``finetune`` (pretrained-transformer
classifiers)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config.trainer import EarlyStoppingParams, Epochs, PositiveInt, default
from pipeline.models.registry import ARCHITECTURES, is_pretrained


class PretrainParams(EarlyStoppingParams):
    """The pretrain stage: a small BERT pre-trained with masked-language modelling on our own corpus."""

    output_dir: str = Field(
        "models/pretrained", description="Where the pretrain stage writes its Hugging Face folders (<output_dir>/bert)."
    )
    corpus_dir: str = Field(
        "inputs/corpus",
        description="More unlabelled text for pretraining: every .txt (one document per line) and .jsonl (a `text` "
        "key per line) file in this folder, added to the data source's documents; a DVC dependency.",
    )
    vocab_size: int = Field(2000, ge=100, description="WordPiece vocabulary size (specials included).")
    min_frequency: int = Field(2, ge=1, description="WordPiece: minimum count of a merged piece.")
    hidden_size: int = Field(64, ge=8, description="BERT hidden size.")
    num_layers: int = Field(2, ge=1, description="BERT encoder layers.")
    num_heads: int = Field(2, ge=1, description="Attention heads (must divide hidden_size).")
    intermediate_size: int = Field(128, ge=8, description="Feed-forward width of each layer.")
    dropout: float = Field(0.1, ge=0, lt=1, description="Hidden and attention dropout.")
    max_length: int = Field(128, ge=8, le=4096, description="Wordpieces per document (also the position limit).")
    mask_probability: float = Field(
        0.15, gt=0, lt=1, description="Share of wordpieces selected for MLM (80% [MASK], 10% random, 10% kept)."
    )
    whole_word_masking: bool = Field(
        True,
        description="Select whole words for MLM (every wordpiece of a chosen word masked together); false: "
        "wordpieces independently, as the original BERT.",
    )
    max_epochs: Epochs = default(EarlyStoppingParams, "max_epochs", 20)
    patience: PositiveInt = default(EarlyStoppingParams, "patience", 20)
    max_minutes: float = Field(
        0.0,
        ge=0,
        description="Time budget: no epoch starts that would end after this many minutes of training (at the mean "
        "epoch time so far; the first always runs); 0: none. The LR schedule still spans max_epochs, and the "
        "epochs run then depend on the machine's speed (recorded as epochs_run).",
    )
    batch_size: int = Field(32, ge=1, description="Documents per MLM batch.")
    lr: float = Field(3e-3, gt=0, description="AdamW learning rate.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (not on biases and LayerNorm).")
    scheduler: Literal["none", "linear", "cosine"] = Field(
        "linear", description="LR schedule per step: none, or linear warmup then linear/cosine decay to 0."
    )
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Fraction of the steps spent warming up.")
    val_fraction: float = Field(
        0.1, ge=0, lt=0.5, description="Share of the corpus held out for validation MLM loss/perplexity (0 = none)."
    )
    resume: bool = Field(True, description="Resume an interrupted pretraining from its last.ckpt in state_dir.")
    state_dir: str = Field("data/pretrain-state", description="last.ckpt of an unfinished pretraining.")

    @model_validator(mode="after")
    def _heads_divide(self) -> PretrainParams:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"pretrain.num_heads ({self.num_heads}) must divide pretrain.hidden_size ({self.hidden_size})"
            )
        return self


class FinetuneParams(EarlyStoppingParams):
    """The finetune stage: one pretrained-transformer classifier per architecture."""

    architectures: list[str] = Field(
        default_factory=list,
        description="Pretrained-transformer classifiers to fine-tune, one DVC stage each (finetune@<arch>).",
    )
    checkpoints: dict[str, str] = Field(
        default_factory=dict,
        description="Per architecture, a Hugging Face hub name (online) or a local folder to start from; "
        "bert defaults to the pretrain stage's <pretrain.output_dir>/bert, electra has no offline default.",
    )
    normalize: bool = Field(
        True,
        description="Apply preprocess.normalize to the text before the checkpoint's tokenizer (the pretrain stage "
        "always does; turn off for hub checkpoints whose vocabulary expects unnormalised text).",
    )
    max_epochs: Epochs = default(EarlyStoppingParams, "max_epochs", 20)
    patience: PositiveInt = default(EarlyStoppingParams, "patience", 5)
    batch_size: int = Field(32, ge=1, description="Training batch size.")
    lr: float = Field(
        2e-3, gt=0, description="AdamW learning rate (for our tiny BERT; about 2e-5 to 5e-5 for full-size hub models)."
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (not on biases and LayerNorm).")
    scheduler: Literal["none", "linear", "cosine"] = Field(
        "linear", description="LR schedule per step: none, or linear warmup then linear/cosine decay to 0."
    )
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Fraction of all training steps spent warming up.")
    max_length: int = Field(128, ge=8, description="Wordpieces kept per document (the rest is cut).")
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="Loss weights per class: none, or balanced (n_train / (n_classes * count))."
    )
    prior_correction: Literal["auto", "none"] = Field(
        "auto",
        description="auto: per-class logit offsets chosen on validation as train.prior_correction does, added to "
        "the classification head's output bias of the saved model (a no-op on balanced classes); none: as trained.",
    )
    resume: bool = Field(
        True, description="Resume an interrupted fine-tuning from its last.ckpt in state_dir (same params and data)."
    )
    state_dir: str = Field("data/finetune-state", description="last.ckpt of unfinished fine-tunings, per architecture.")

    @field_validator("architectures")
    @classmethod
    def _pretrained(cls, value: list[str]) -> list[str]:
        for name in value:
            if not is_pretrained(name):
                allowed = ", ".join(sorted(a for a in ARCHITECTURES if is_pretrained(a)))
                hint = " (it is trained by the train stage: use train.architectures)" if name in ARCHITECTURES else ""
                raise ValueError(f"{name!r} is not a pretrained-transformer architecture{hint}; allowed: {allowed}")
        if len(set(value)) != len(value):
            raise ValueError(f"lists an architecture twice: {value}")
        return value

    @field_validator("checkpoints")
    @classmethod
    def _checkpoint_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for name, checkpoint in value.items():
            if not is_pretrained(name):
                allowed = ", ".join(sorted(a for a in ARCHITECTURES if is_pretrained(a)))
                raise ValueError(f"key {name!r} is not a pretrained-transformer architecture; allowed: {allowed}")
            if not checkpoint.strip():
                raise ValueError(f"{name}: empty checkpoint (a hub name or a local folder)")
        return value

    @model_validator(mode="after")
    def _offline_defaults(self) -> FinetuneParams:
        for name in self.architectures:
            if name not in self.checkpoints and not ARCHITECTURES[name].option("offline_default", False):
                raise ValueError(
                    f"finetune.checkpoints.{name}: no offline {name} checkpoint is built by this pipeline; set "
                    f"finetune.checkpoints.{name} to a hub name (online) or a local folder"
                )
        return self
