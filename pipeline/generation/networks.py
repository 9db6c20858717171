"""The two language models, behind one interface.

``forward(ids) -> logits`` (batch, time, vocab) for training, and for generation
``start(ids) -> (last logits, state)`` / ``step(token, state) -> (logits, state)``: the recurrent
state for the LSTM/GRU, the key/value cache for GPT-2. ``max_positions`` is the longest sequence a
model can see (None: unbounded).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.generation.packing import IGNORE


class RecurrentLM(nn.Module):
    """Embedding → LSTM/GRU → dropout → linear (optionally tied to the embedding)."""

    max_positions: int | None = None

    def __init__(
        self,
        vocab_size: int,
        cell: str = "lstm",
        embedding_dim: int = 128,
        hidden_dim: int = 128,
        num_layers: int = 1,
        dropout: float = 0.2,
        tie_weights: bool = True,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_dim)
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

    def run(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        hidden, state = self.rnn(self.drop(self.embed(ids)), state)
        return self.out(self.drop(hidden)), state

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.run(ids)[0]

    def start(self, ids: list[int]) -> tuple[torch.Tensor, Any]:
        logits, state = self.run(torch.tensor([ids], dtype=torch.long))
        return logits[0, -1], state

    def step(self, token: int, state: Any) -> tuple[torch.Tensor, Any]:
        logits, state = self.run(torch.tensor([[token]], dtype=torch.long), state)
        return logits[0, -1], state


class GPT2LM(nn.Module):
    """A ``transformers`` GPT-2 (``GPT2LMHeadModel`` or any causal LM) with the interface above."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.max_positions = int(getattr(model.config, "n_positions", 0) or model.config.max_position_embeddings)

    @classmethod
    def from_config(
        cls, vocab_size: int, n_layer: int, n_head: int, n_embd: int, n_positions: int, dropout: float, **ids: int
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
        return cls(GPT2LMHeadModel(config))

    @classmethod
    def from_pretrained(cls, name_or_folder: str, vocab_size: int) -> GPT2LM:
        """A hub name (online) or a local folder; the embeddings grow to ``vocab_size`` (added tokens)."""
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(name_or_folder)
        if model.get_input_embeddings().num_embeddings < vocab_size:
            model.resize_token_embeddings(vocab_size)
        return cls(model.train())  # from_pretrained returns it in eval mode

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids, use_cache=False).logits

    def start(self, ids: list[int]) -> tuple[torch.Tensor, Any]:
        out = self.model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=True)
        return out.logits[0, -1], out.past_key_values

    def step(self, token: int, state: Any) -> tuple[torch.Tensor, Any]:
        out = self.model(input_ids=torch.tensor([[token]], dtype=torch.long), past_key_values=state, use_cache=True)
        return out.logits[0, -1], out.past_key_values


def build_network(kind: str, vocab_size: int, config: dict[str, Any], special_ids: dict[str, int]) -> nn.Module:
    """``lstm_lm`` or ``gpt2`` from its params section (``lr`` left out)."""
    config = {k: v for k, v in config.items() if k != "lr"}
    if kind == "lstm_lm":
        return RecurrentLM(vocab_size, **config)
    if kind == "gpt2":
        if config.get("checkpoint"):
            return GPT2LM.from_pretrained(config["checkpoint"], vocab_size)
        config.pop("checkpoint", None)
        return GPT2LM.from_config(vocab_size, **config, **special_ids)
    raise ValueError(f"unknown language model {kind!r}")


def token_loss(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over predicted targets, and their count."""
    total = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )
    return total, int((targets != IGNORE).sum())
