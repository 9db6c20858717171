"""Networks behind the registry names: an encoder turns token ids into one vector per document."""

from __future__ import annotations

import torch
from torch import nn

from pipeline.config import TrainParams
from pipeline.models.registry import ARCHITECTURES

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RecurrentEncoder(nn.Module):
    """Embedding → (Bi)RNN/GRU/LSTM → pooling (last, mean or max over real tokens)."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_dim: int,
        cell: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        pooling: str = "mean",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; allowed: {', '.join(CELLS)}")
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.rnn = CELLS[cell](
            embedding_dim,
            hidden_dim,
            num_layers=num_layers,
            bidirectional=bidirectional,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.pooling = pooling
        self.output_dim = hidden_dim * (2 if bidirectional else 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        emb = self.embedding(ids)
        packed = nn.utils.rnn.pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))
        mask = (torch.arange(ids.size(1), device=ids.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        if self.pooling == "mean":
            return (out * mask).sum(1) / lengths.clamp(min=1)[:, None].to(out.dtype)
        if self.pooling == "max":
            return out.masked_fill(~mask, float("-inf")).max(1).values
        # "last": the final real step of the forward direction, the first step of the backward one.
        idx = (lengths - 1).clamp(min=0)
        last = out[torch.arange(out.size(0), device=out.device), idx]
        if self.rnn.bidirectional:
            half = out.size(-1) // 2
            last = torch.cat([last[:, :half], out[:, 0, half:]], dim=-1)
        return last


class TextClassifier(nn.Module):
    """Any encoder followed by dropout and a linear head."""

    def __init__(self, encoder: nn.Module, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.output_dim, num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encoder(ids, lengths)))


def build_network(arch: str, vocab_size: int, num_classes: int, tp: TrainParams) -> TextClassifier:
    """Build the classifier registered under ``arch``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; allowed: {', '.join(sorted(ARCHITECTURES))}")
    spec = ARCHITECTURES[arch]
    if spec.family == "recurrent":
        encoder = RecurrentEncoder(
            vocab_size,
            tp.embedding_dim,
            tp.hidden_dim,
            cell=str(spec.option("cell")),
            num_layers=tp.num_layers,
            bidirectional=bool(spec.option("bidirectional")),
            pooling=tp.pooling,
            dropout=tp.dropout,
        )
    else:  # pragma: no cover - every registered family is handled above
        raise ValueError(f"no builder for family {spec.family!r}")
    return TextClassifier(encoder, num_classes, tp.dropout)
