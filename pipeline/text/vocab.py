"""Token vocabulary built on the training split only."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

PAD, UNK = "<pad>", "<unk>"


@dataclass
class Vocab:
    """Token ↔ id map; id 0 is padding, id 1 is unknown."""

    itos: list[str]
    stoi: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        if self.itos[:2] != [PAD, UNK]:
            raise ValueError(f"vocabulary must start with {PAD!r}, {UNK!r}")
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str], unknown: Callable[[str], int] | None = None) -> list[int]:
        """Ids of ``tokens``; a token outside the vocabulary is ``<unk>`` (1), or ``unknown(token)``."""
        if unknown is None:
            return [self.stoi.get(t, 1) for t in tokens]
        return [self.stoi[t] if t in self.stoi else unknown(t) for t in tokens]

    @classmethod
    def build(cls, docs: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        return cls.build_from_counts(Counter(tok for doc in docs for tok in doc), min_freq, max_size)

    @classmethod
    def build_from_counts(cls, counts: Counter, min_freq: int = 1, max_size: int | None = None) -> Vocab:
        # Most frequent first, ties broken alphabetically so the result is deterministic.
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        return cls([PAD, UNK, *ranked])

    def save(self, path: Path) -> None:
        from pipeline.data.integrity import write_text_atomic

        write_text_atomic(path, json.dumps({"itos": self.itos}, ensure_ascii=False, indent=0))

    @classmethod
    def load(cls, path: Path) -> Vocab:
        return cls(json.loads(path.read_text(encoding="utf-8"))["itos"])
