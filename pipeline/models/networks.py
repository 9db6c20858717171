"""Networks behind the registry names: an encoder turns token ids into one vector per document.

Every encoder takes ``(ids, lengths)`` (right-padded with id 0) and must give the same vector for a
document whatever padding follows it (``tests/test_network.py`` checks every registered network).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from pipeline.models.registry import ARCHITECTURES

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def _mask(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(batch, time) booleans: True on real tokens."""
    return torch.arange(ids.size(1), device=ids.device)[None, :] < lengths.to(ids.device)[:, None]


class AttentionPooling(nn.Module):
    """A learned score per token state; softmax over the real tokens; the weighted sum."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(states).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1).unsqueeze(-1)
        return (weights * states).sum(1)


def pool(
    states: torch.Tensor,
    mask: torch.Tensor,
    lengths: torch.Tensor,
    method: str,
    attention: AttentionPooling | None = None,
) -> torch.Tensor:
    """mean / max / attention over real tokens, or the last real token's state."""
    if method == "mean":
        m = mask.unsqueeze(-1).to(states.dtype)
        return (states * m).sum(1) / lengths.clamp(min=1).to(states.device)[:, None].to(states.dtype)
    if method == "max":
        return states.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(1).values
    if method == "attention":
        assert attention is not None
        return attention(states, mask)
    idx = (lengths.to(states.device) - 1).clamp(min=0)
    return states[torch.arange(states.size(0), device=states.device), idx]


class RecurrentEncoder(nn.Module):
    """Embedding → (Bi)RNN/GRU/LSTM → pooling (last, mean, max or attention over real tokens)."""

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
        self.attention = AttentionPooling(self.output_dim) if pooling == "attention" else None

    padded = False  # True: the padded forward below (ONNX export), not packed sequences

    def _padded_states(self, emb: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The packed forward's numbers without packing (packed sequences do not export to ONNX reliably).

        Right padding never reaches a real token's forward state; the backward direction runs over each
        document's real tokens reversed in place (padding stays behind them), then is put back in order.
        Inference only: no dropout between layers.
        """
        rnn = self.rnn
        mode = {nn.LSTM: torch.lstm, nn.GRU: torch.gru}.get(type(rnn))
        if mode is None:
            mode = torch.rnn_tanh if rnn.nonlinearity == "tanh" else torch.rnn_relu
        directions = 2 if rnn.bidirectional else 1
        steps = torch.arange(emb.size(1), device=emb.device)[None, :]
        length = lengths.to(emb.device)[:, None]
        mask = steps < length
        reverse = torch.where(mask, length - 1 - steps, steps)  # its own inverse
        x = emb
        for layer in range(rnn.num_layers):
            outs = []
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                weights = [getattr(rnn, f"{w}{suffix}") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                h0 = x.new_zeros(1, x.size(0), rnn.hidden_size)
                inp = x if d == 0 else x.gather(1, reverse.unsqueeze(-1).expand(-1, -1, x.size(-1)))
                if mode is torch.lstm:
                    out = torch.lstm(inp, (h0, h0), weights, True, 1, 0.0, False, False, True)[0]
                else:
                    out = mode(inp, h0, weights, True, 1, 0.0, False, False, True)[0]
                if d:
                    out = out.gather(1, reverse.unsqueeze(-1).expand(-1, -1, out.size(-1)))
                outs.append(out)
            x = torch.cat(outs, dim=-1) * mask.unsqueeze(-1).to(emb.dtype)
        half = rnn.hidden_size
        final = pool(x[..., :half], mask, lengths, "last")  # the forward direction's last real step
        if directions == 2:
            final = torch.cat([final, x[:, 0, half:]], dim=-1)  # the backward one ends at the first token
        return x, final

    def states(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token states (batch, time, output_dim) and the final hidden state (batch, output_dim)."""
        emb = self.embedding(ids)
        if self.padded:
            return self._padded_states(emb, lengths)
        packed = nn.utils.rnn.pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, hidden = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))
        h = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM: (h, c)
        directions = 2 if self.rnn.bidirectional else 1
        final = h.view(self.rnn.num_layers, directions, h.size(1), h.size(2))[-1]  # last layer
        return out, torch.cat(list(final), dim=-1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.states(ids, lengths)
        mask = _mask(ids, lengths)
        if self.pooling == "last" and self.rnn.bidirectional:
            # the final real step of the forward direction, the first step of the backward one
            last = pool(out, mask, lengths, "last")
            half = out.size(-1) // 2
            return torch.cat([last[:, :half], out[:, 0, half:]], dim=-1)
        return pool(out, mask, lengths, self.pooling, self.attention)


class TransformerEncoderNet(nn.Module):
    """Learned token + position embeddings → nn.TransformerEncoder (padding masked) → pooling."""

    def __init__(
        self,
        vocab_size: int,
        dim: int,
        max_positions: int,
        layers: int = 2,
        heads: int = 2,
        ff_dim: int = 64,
        dropout: float = 0.1,
        pooling: str = "mean",
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.positions = nn.Embedding(max_positions, dim)
        layer = nn.TransformerEncoderLayer(
            d_model=dim, nhead=heads, dim_feedforward=ff_dim, dropout=dropout, batch_first=True
        )
        # no nested-tensor fast path: the same numbers in train and eval mode, whatever the padding
        self.encoder = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.max_positions = max_positions
        self.pooling = pooling
        self.output_dim = dim
        self.attention = AttentionPooling(dim) if pooling == "attention" else None

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids = ids[:, : self.max_positions]
        lengths = lengths.clamp(max=self.max_positions)
        positions = torch.arange(ids.size(1), device=ids.device)
        x = self.embedding(ids) + self.positions(positions)[None]
        mask = _mask(ids, lengths)
        states = self.encoder(x, src_key_padding_mask=~mask)
        return pool(states, mask, lengths, self.pooling, self.attention)


class CNNEncoder(nn.Module):
    """Embedding → one Conv1d per kernel size (ReLU) → max over time; the pooled maps concatenated.

    Convolutions are "full" (k-1 zeros each side) and the max is taken over the outputs that see
    at least one real token only, so padding after a document never changes its vector.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, kernel_sizes: list[int], filters: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, filters, k, padding=k - 1) for k in kernel_sizes)
        self.kernel_sizes = list(kernel_sizes)
        self.output_dim = filters * len(kernel_sizes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.pool(self.embedding(ids), ids, lengths)

    def pool(self, embedded: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The pooled feature maps of already embedded tokens, (batch, time, dim)."""
        mask = _mask(ids, lengths)
        x = (embedded * mask.unsqueeze(-1)).transpose(1, 2)  # (batch, dim, time)
        pooled = []
        for k, conv in zip(self.kernel_sizes, self.convs, strict=True):
            out = torch.relu(conv(x))  # (batch, filters, time + k - 1)
            valid = torch.arange(out.size(-1), device=ids.device)[None, :] < (lengths.to(ids.device) + k - 1)[:, None]
            pooled.append(out.masked_fill(~valid.unsqueeze(1), float("-inf")).max(-1).values)
        return torch.cat(pooled, dim=-1)


class NgramBagEncoder(nn.Module):
    """fastText's classifier (Joulin et al., 2017): the mean of word and hashed word-bigram embeddings.

    Bigram ids are hashed from consecutive word ids into rows 1..``buckets``-1, inside the network, so
    the data pipeline stays the same; a pair with padding (id 0) gets row 0, which stays zero, so
    padding never changes the vector and an all-padding document is the zero vector (the baseline of
    integrated gradients). Rows start small, N(0, ``INIT_STD``), not ``nn.Embedding``'s N(0, 1): a
    document vector is a mean of ~100 rows, and with unit-variance rows the rare bigrams' noise swamps
    the words at the start (RES seed 1: test macro-F1 0.838 -> 0.850 random init, 0.858 -> 0.866 with
    fastText word vectors, which replace the word rows and keep their own scale).
    """

    PRIME = 1_000_003
    INIT_STD = 0.02

    def __init__(self, vocab_size: int, embedding_dim: int, buckets: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.bigrams = nn.Embedding(buckets, embedding_dim, padding_idx=0)
        with torch.no_grad():
            for table in (self.embedding, self.bigrams):
                table.weight.normal_(0.0, self.INIT_STD)
                table.weight[0].zero_()
        self.buckets = buckets
        self.output_dim = embedding_dim

    def bigram_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """(batch, time - 1) row ids of consecutive pairs; 0 where either token is padding."""
        left, right = ids[:, :-1], ids[:, 1:]
        hashed = 1 + (left * self.PRIME + right) % (self.buckets - 1)
        return torch.where((left > 0) & (right > 0), hashed, torch.zeros_like(hashed))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.average(self.embedding(ids), self.bigrams(self.bigram_ids(ids)), ids, lengths)

    def average(
        self, words: torch.Tensor, pairs: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """The mean of embedded words (batch, time, dim) and bigrams (batch, time - 1, dim)."""
        mask = _mask(ids, lengths)
        total = (words * mask.unsqueeze(-1)).sum(1)
        total = total + (pairs * (mask[:, 1:] & mask[:, :-1]).unsqueeze(-1)).sum(1)
        count = (lengths.to(ids.device) * 2 - 1).clamp(min=1).to(total.dtype)[:, None]
        return total / count


class CNNBagEncoder(nn.Module):
    """Wide and deep (Cheng et al., 2016): the CNN's max-pooled n-gram detectors (deep) next to the
    ``nbow`` mean of word and hashed word-bigram rows (wide, linear), over one shared word embedding.

    The wide half keeps every word's and bigram's evidence, as TF-IDF + logistic regression does; the
    deep half adds what the convolutions learn over pretrained vectors.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, kernel_sizes: list[int], filters: int, buckets: int):
        super().__init__()
        self.cnn = CNNEncoder(vocab_size, embedding_dim, kernel_sizes, filters)
        self.bag = NgramBagEncoder(vocab_size, embedding_dim, buckets)
        self.bag.embedding = self.cnn.embedding  # one word table: pretrained vectors fill it once
        self.output_dim = self.cnn.output_dim + embedding_dim

    @property
    def embedding(self) -> nn.Embedding:
        return self.cnn.embedding

    @property
    def bigrams(self) -> nn.Embedding:
        return self.bag.bigrams

    def bigram_ids(self, ids: torch.Tensor) -> torch.Tensor:
        return self.bag.bigram_ids(ids)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        words = self.embedding(ids)  # embedded once, so attributions see every use of a word row
        pairs = self.bigrams(self.bigram_ids(ids))
        return torch.cat([self.cnn.pool(words, ids, lengths), self.bag.average(words, pairs, ids, lengths)], dim=-1)


class EncoderDecoderNet(nn.Module):
    """Recurrent encoder; a decoder query from its final state attends over its token states (additive,
    Bahdanau-style attention); the context and the query go through a tanh layer: the document vector."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, cell: str, bidirectional: bool) -> None:
        super().__init__()
        self.encoder = RecurrentEncoder(
            vocab_size, embedding_dim, hidden_dim, cell=cell, bidirectional=bidirectional, pooling="mean"
        )
        enc = self.encoder.output_dim
        self.query = nn.Linear(enc, hidden_dim)
        self.keys = nn.Linear(enc, hidden_dim, bias=False)
        self.energy = nn.Linear(hidden_dim, 1, bias=False)
        self.decoder = nn.Linear(enc + hidden_dim, hidden_dim)
        self.output_dim = hidden_dim

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        states, final = self.encoder.states(ids, lengths)
        mask = _mask(ids, lengths)
        query = torch.tanh(self.query(final))
        scores = self.energy(torch.tanh(self.keys(states) + query[:, None, :])).squeeze(-1)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        context = (weights.unsqueeze(-1) * states).sum(1)
        return torch.tanh(self.decoder(torch.cat([context, query], dim=-1)))


class TextClassifier(nn.Module):
    """Any encoder followed by dropout and a linear head."""

    def __init__(self, encoder: nn.Module, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.output_dim, num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encoder(ids, lengths)))


class NetworkOptions(Protocol):
    """The settings a network builder reads (the ``train`` params section has them; so may any object)."""

    embedding_dim: int
    hidden_dim: int
    num_layers: int
    pooling: str
    dropout: float
    max_length: int
    transformer_layers: int
    transformer_heads: int
    transformer_ff_dim: int
    transformer_dropout: float
    cnn_kernel_sizes: list[int]
    cnn_filters: int
    ngram_buckets: int


def build_network(arch: str, vocab_size: int, num_classes: int, tp: NetworkOptions) -> TextClassifier:
    """Build the classifier registered under ``arch``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; allowed: {', '.join(sorted(ARCHITECTURES))}")
    spec = ARCHITECTURES[arch]
    encoder: nn.Module
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
    elif spec.family == "transformer":
        encoder = TransformerEncoderNet(
            vocab_size,
            tp.embedding_dim,
            max_positions=tp.max_length,
            layers=tp.transformer_layers,
            heads=tp.transformer_heads,
            ff_dim=tp.transformer_ff_dim,
            dropout=tp.transformer_dropout,
            pooling=tp.pooling,
        )
    elif spec.family == "cnn":
        encoder = CNNEncoder(vocab_size, tp.embedding_dim, tp.cnn_kernel_sizes, tp.cnn_filters)
    elif spec.family == "ngram_bag":
        encoder = NgramBagEncoder(vocab_size, tp.embedding_dim, tp.ngram_buckets)
    elif spec.family == "cnn_bag":
        encoder = CNNBagEncoder(vocab_size, tp.embedding_dim, tp.cnn_kernel_sizes, tp.cnn_filters, tp.ngram_buckets)
    elif spec.family == "encdec":
        encoder = EncoderDecoderNet(
            vocab_size,
            tp.embedding_dim,
            tp.hidden_dim,
            cell=str(spec.option("cell")),
            bidirectional=bool(spec.option("bidirectional")),
        )
    else:
        raise ValueError(f"{arch!r} (family {spec.family!r}) is not a neural network; it has no network builder")
    return TextClassifier(encoder, num_classes, tp.dropout)


def collate(batch: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
    """Pad ``(ids, label)`` items into ``ids`` (batch x longest), ``lengths`` and ``labels`` tensors."""
    lengths = torch.tensor([len(ids) for ids, _ in batch])
    padded = torch.zeros(len(batch), int(lengths.max()), dtype=torch.long)
    for i, (ids, _) in enumerate(batch):
        padded[i, : len(ids)] = torch.tensor(ids)
    return {"ids": padded, "lengths": lengths, "labels": torch.tensor([y for _, y in batch])}


class TrainedNetwork(nn.Module):
    """A trained classifier network and its train params (``tp``): what inference needs of the training's
    LightningModule, without Lightning. Calling it calls the network."""

    def __init__(self, net: nn.Module, tp: object) -> None:
        super().__init__()
        self.net, self.tp = net, tp

    def forward(self, *args: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        return self.net(*args, **inputs)
