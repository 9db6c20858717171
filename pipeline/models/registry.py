"""Registry of classifier architectures, by name.

Kept free of torch imports so that validating ``params.yaml`` stays fast. One
recurrent encoder with a cell type and a direction flag covers RNN/BiRNN,
GRU/BiGRU and LSTM/BiLSTM; new families register a builder in
:mod:`pipeline.models.networks`.
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
}
