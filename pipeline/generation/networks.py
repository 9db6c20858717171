"""The two language models, behind one interface.

``forward(ids, classes) -> logits`` (batch, time, vocab) for training, and for generation
``start(ids, cls) -> (last logits, state)`` / ``step(token, state) -> (logits, state)``: the recurrent
state for the LSTM/GRU, the key/value cache for GPT-2 (with the class id). ``classes`` holds the class
id of every position (0 = none); each model adds a learnt class embedding (zero at initialisation)
to every input embedding. ``max_positions`` is the longest sequence a model can see (None: unbounded).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.generation.packing import IGNORE


def _class_embedding(num_classes: int, dim: int) -> nn.Embedding:
    """One vector per class id (0 = no class), zero at first: an untrained model ignores the class."""
    emb = nn.Embedding(num_classes + 1, dim)
    nn.init.zeros_(emb.weight)
    return emb


def _classes_like(ids: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
    return torch.zeros_like(ids) if classes is None else classes


class RecurrentLM(nn.Module):
    """Embedding (+ class embedding) → LSTM/GRU → dropout → linear (optionally tied to the embedding)."""

    max_positions: int | None = None

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 0,
        cell: str = "lstm",
        embedding_dim: int = 128,
        hidden_dim: int = 128,
        num_layers: int = 1,
        dropout: float = 0.2,
        tie_weights: bool = True,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_dim)
        self.cls = _class_embedding(num_classes, embedding_dim)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(
            embedding_dim, hidden_dim, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_dim, vocab_size)
        if tie_weights:
            if embedding_dim != hidden_dim:
                raise ValueError("tie_weights needs embedding_dim == hidden_dim")
            self.out.weight = self.embed.weight

    def run(self, ids: torch.Tensor, classes: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        hidden, state = self.rnn(self.drop(self.embed(ids) + self.cls(classes)), state)
        return self.out(self.drop(hidden)), state

    def forward(self, ids: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(ids, _classes_like(ids, classes))[0]

    def start(self, ids: list[int], cls: int = 0) -> tuple[torch.Tensor, Any]:
        x = torch.tensor([ids], dtype=torch.long)
        logits, state = self.run(x, torch.full_like(x, cls))
        return logits[0, -1], (state, cls)

    def step(self, token: int, state: Any) -> tuple[torch.Tensor, Any]:
        rnn_state, cls = state
        logits, rnn_state = self.run(torch.tensor([[token]], dtype=torch.long), torch.tensor([[cls]]), rnn_state)
        return logits[0, -1], (rnn_state, cls)


class GPT2LM(nn.Module):
    """A ``transformers`` GPT-2 (``GPT2LMHeadModel`` or any causal LM) with the interface above; the class
    embedding is added to the token embeddings (``inputs_embeds``), position embeddings stay the model's."""

    def __init__(self, model: Any, num_classes: int = 0) -> None:
        super().__init__()
        self.model = model
        self.max_positions = int(getattr(model.config, "n_positions", 0) or model.config.max_position_embeddings)
        self.cls = _class_embedding(num_classes, model.get_input_embeddings().embedding_dim)

    @classmethod
    def from_config(
        cls,
        vocab_size: int,
        n_layer: int,
        n_head: int,
        n_embd: int,
        n_positions: int,
        dropout: float,
        num_classes: int = 0,
        **ids: int,
    ) -> GPT2LM:
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(
            vocab_size=vocab_size,
            n_positions=n_positions,
            n_embd=n_embd,
            n_layer=n_layer,
            n_head=n_head,
            n_inner=4 * n_embd,
            resid_pdrop=dropout,
            embd_pdrop=dropout,
            attn_pdrop=dropout,
            **ids,
        )
        return cls(GPT2LMHeadModel(config), num_classes)

    @classmethod
    def from_pretrained(cls, name_or_folder: str, vocab_size: int, num_classes: int = 0) -> GPT2LM:
        """A hub name (online) or a local folder; the embeddings grow to ``vocab_size`` (added tokens)."""
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(name_or_folder)
        if model.get_input_embeddings().num_embeddings < vocab_size:
            model.resize_token_embeddings(vocab_size)
        return cls(model.train(), num_classes)  # from_pretrained returns it in eval mode

    def _embed(self, ids: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids) + self.cls(classes)

    def forward(self, ids: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(inputs_embeds=self._embed(ids, _classes_like(ids, classes)), use_cache=False).logits

    def start(self, ids: list[int], cls: int = 0) -> tuple[torch.Tensor, Any]:
        x = torch.tensor([ids], dtype=torch.long)
        out = self.model(inputs_embeds=self._embed(x, torch.full_like(x, cls)), use_cache=True)
        return out.logits[0, -1], (out.past_key_values, cls)

    def step(self, token: int, state: Any) -> tuple[torch.Tensor, Any]:
        cache, cls = state
        embeds = self._embed(torch.tensor([[token]], dtype=torch.long), torch.tensor([[cls]]))
        out = self.model(inputs_embeds=embeds, past_key_values=cache, use_cache=True)
        return out.logits[0, -1], (out.past_key_values, cls)


def build_network(
    kind: str, vocab_size: int, config: dict[str, Any], special_ids: dict[str, int], num_classes: int = 0
) -> nn.Module:
    """``lstm_lm`` or ``gpt2`` from its params section (``lr`` left out)."""
    config = {k: v for k, v in config.items() if k != "lr"}
    if kind == "lstm_lm":
        return RecurrentLM(vocab_size, num_classes, **config)
    if kind == "gpt2":
        if config.get("checkpoint"):
            return GPT2LM.from_pretrained(config["checkpoint"], vocab_size, num_classes)
        config.pop("checkpoint", None)
        return GPT2LM.from_config(vocab_size, **config, num_classes=num_classes, **special_ids)
    raise ValueError(f"unknown language model {kind!r}")


def token_loss(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over predicted targets, and their count."""
    total = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )
    return total, int((targets != IGNORE).sum())
