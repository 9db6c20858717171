"""The ``generate`` section: language models, their shared tokenizer and training, decoding and evaluation."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config.base import Section
from pipeline.config.trainer import EarlyStoppingParams, Epochs, PositiveInt, default

LM_NAMES = ("lstm_lm", "gpt2")
ARABIC_LETTER = re.compile("[\u0621-\u064a\u0660-\u0669\u0671-\u06d3]")


class LMTokenizerParams(Section):
    vocab_size: int = Field(1000, ge=300, description="Byte-level BPE vocabulary size (256 bytes + merges + specials).")
    min_frequency: int = Field(2, ge=1, description="Minimum train-split pair count for a BPE merge.")


class LMTrainParams(EarlyStoppingParams):
    """``generate.train``: training shared by the language models (early stopping on val/loss)."""

    block_size: int = Field(64, ge=4, description="Tokens per packed training block (documents are concatenated).")
    max_epochs: Epochs = default(EarlyStoppingParams, "max_epochs", 8)
    patience: PositiveInt = default(EarlyStoppingParams, "patience", 2)
    batch_size: int = Field(8, ge=1, description="Blocks per training batch.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    class_token_dropout: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Share of training documents (chosen by seed) written without their class token, so the models "
        "also generate unconditionally.",
    )
    resume: bool = Field(True, description="Resume an interrupted training from its last.ckpt in state_dir.")
    state_dir: str = Field("data/lm-state", description="Checkpoints of unfinished LM trainings, one folder per model.")


class LSTMLMParams(Section):
    cell: Literal["lstm", "gru"] = Field("lstm", description="Recurrent cell of the language model.")
    embedding_dim: int = Field(128, ge=1, description="Token embedding size.")
    hidden_dim: int = Field(128, ge=1, description="Recurrent hidden size.")
    num_layers: int = Field(1, ge=1, description="Stacked recurrent layers.")
    dropout: float = Field(0.2, ge=0, lt=1, description="Dropout on embeddings and recurrent outputs.")
    tie_weights: bool = Field(
        True, description="Share the input embedding with the output layer (needs embedding_dim == hidden_dim)."
    )
    lr: float = Field(1e-2, gt=0, description="AdamW learning rate.")

    @model_validator(mode="after")
    def _tied(self) -> LSTMLMParams:
        if self.tie_weights and self.embedding_dim != self.hidden_dim:
            raise ValueError(
                f"generate.lstm_lm.tie_weights needs embedding_dim ({self.embedding_dim}) == hidden_dim "
                f"({self.hidden_dim})"
            )
        return self


class GPT2Params(Section):
    checkpoint: str | None = Field(
        None,
        description="null: a small GPT-2 trained from scratch on the shared tokenizer; else a Hugging Face hub name "
        "(online) or a local folder to fine-tune, with its own tokenizer (perplexities then not comparable).",
    )
    n_layer: int = Field(2, ge=1, description="From scratch: transformer blocks.")
    n_head: int = Field(2, ge=1, description="From scratch: attention heads (must divide n_embd).")
    n_embd: int = Field(128, ge=8, description="From scratch: hidden size.")
    n_positions: int = Field(256, ge=8, description="From scratch: longest context in tokens.")
    dropout: float = Field(0.1, ge=0, lt=1, description="From scratch: residual, embedding and attention dropout.")
    lr: float = Field(3e-3, gt=0, description="AdamW learning rate.")

    @model_validator(mode="after")
    def _heads(self) -> GPT2Params:
        if self.n_embd % self.n_head:
            raise ValueError(f"generate.gpt2.n_head ({self.n_head}) must divide generate.gpt2.n_embd ({self.n_embd})")
        return self


class DecodingParams(Section):
    greedy: bool = Field(False, description="Always take the most likely token (temperature/top-k/top-p ignored).")
    temperature: float = Field(1.0, gt=0, le=10, description="Divide the logits by this before sampling.")
    top_k: int = Field(0, ge=0, description="Sample only among the k most likely tokens (0 = off).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling: smallest set of tokens with this mass.")
    repetition_penalty: float = Field(
        1.0, ge=1, le=10, description="Divide positive (multiply negative) logits of tokens already present (1 = off)."
    )


def _default_decodings() -> dict[str, DecodingParams]:
    return {
        "greedy": DecodingParams(greedy=True, repetition_penalty=1.3),
        "sampled": DecodingParams(temperature=0.9, top_k=40, top_p=0.95, repetition_penalty=1.2),
    }


class GenerateEvalParams(Section):
    continuation_docs: int = Field(40, ge=1, description="Test documents whose continuation is generated (BLEU/chrF).")
    prompt_words: int = Field(8, ge=1, description="Words of a test document given as the prompt.")
    reference_words: int = Field(
        20, ge=1, description="Words of the real continuation scored against (the generation is cut to as many)."
    )
    agreement_per_class: int = Field(
        20, ge=1, description="Texts generated per class for the classifier agreement check."
    )
    agreement_with_prompts: bool = Field(
        False,
        description="Agreement texts start after the topic prompts (in turn) instead of from the class alone "
        "(a prompt's own words then sway the classifier).",
    )
    decoding: str = Field("sampled", description="Name in generate.decodings used for continuations and agreement.")


class GenerateParams(Section):
    models: list[str] = Field(
        default_factory=lambda: list(LM_NAMES), description="Language models to train, one DVC stage each."
    )
    tokenizer: LMTokenizerParams = Field(default_factory=LMTokenizerParams, description="Shared LM tokenizer.")
    train: LMTrainParams = Field(default_factory=LMTrainParams, description="Training shared by the LMs.")
    lstm_lm: LSTMLMParams = Field(default_factory=LSTMLMParams, description="The recurrent language model.")
    gpt2: GPT2Params = Field(default_factory=GPT2Params, description="The GPT-2 causal language model.")
    max_prompt_tokens: int = Field(32, ge=1, description="Longer prompts (in LM tokens) are rejected.")
    max_prompt_chars: int = Field(400, ge=1, description="Longer prompts (in characters) are rejected.")
    max_new_tokens: int = Field(40, ge=1, description="Generation stops after this many new tokens.")
    decodings: dict[str, DecodingParams] = Field(
        default_factory=_default_decodings, description="Named decoding settings; every sample uses each."
    )
    prompts: dict[str, list[str]] = Field(
        default_factory=lambda: {"restaurants": ["الطعام في هذا المطعم"]},
        description="Prompts per topic for the samples in the report.",
    )
    default_model: str = Field("gpt2", description="Model used by `python -m pipeline generate` without --model.")
    eval: GenerateEvalParams = Field(default_factory=GenerateEvalParams, description="Held-out evaluation.")

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one language model")
        for name in value:
            if name not in LM_NAMES:
                raise ValueError(f"unknown language model {name!r}; allowed: {', '.join(LM_NAMES)}")
        if len(set(value)) != len(value):
            raise ValueError(f"lists a model twice: {value}")
        return value

    @field_validator("prompts")
    @classmethod
    def _arabic_prompts(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for topic, prompts in value.items():
            for i, prompt in enumerate(prompts):
                if not prompt.strip():
                    raise ValueError(f"generate.prompts.{topic}[{i}] is empty")
                if not ARABIC_LETTER.search(prompt):
                    raise ValueError(f"generate.prompts.{topic}[{i}] ({prompt!r}) has no Arabic letter")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GenerateParams:
        if not self.decodings:
            raise ValueError("generate.decodings must define at least one decoding")
        if self.eval.decoding not in self.decodings:
            raise ValueError(
                f"generate.eval.decoding {self.eval.decoding!r} is not in generate.decodings "
                f"({', '.join(self.decodings)})"
            )
        if self.default_model not in self.models:
            raise ValueError(f"generate.default_model {self.default_model!r} is not in generate.models {self.models}")
        if self.gpt2.checkpoint is None:
            if self.train.block_size > self.gpt2.n_positions:
                raise ValueError(
                    f"generate.train.block_size ({self.train.block_size}) exceeds generate.gpt2.n_positions "
                    f"({self.gpt2.n_positions})"
                )
            needed = self.max_prompt_tokens + self.max_new_tokens + 2  # + <s> and a class token
            if needed > self.gpt2.n_positions:
                raise ValueError(
                    f"generate.max_prompt_tokens + generate.max_new_tokens + 2 ({needed}) exceeds "
                    f"generate.gpt2.n_positions ({self.gpt2.n_positions})"
                )
        return self
