"""Token-id datasets over the preprocess stage's split files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader, Dataset

from pipeline.data.split import read_split
from pipeline.models.networks import collate
from pipeline.text.vocab import Vocab


class EncodedSplit(Dataset):
    """One split as (ids, label) pairs, cut to ``max_length`` tokens."""

    def __init__(self, path: Path, vocab: Vocab, max_length: int, unknown: Callable[[str], int] | None = None) -> None:
        self.rows = read_split(path)
        self.ids = [vocab.encode(r["tokens"][:max_length], unknown) or [1] for r in self.rows]
        self.labels = [int(r["label"]) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[list[int], int]:
        return self.ids[i], self.labels[i]


def loader(data: Dataset, batch_size: int, shuffle: bool, workers: int = 0) -> DataLoader:
    """A padded-batch loader over ``(ids, label)`` items with ``workers`` worker processes."""
    return DataLoader(
        data,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collate,
        num_workers=workers,
        persistent_workers=workers > 0,
    )


class ReviewDataModule(L.LightningDataModule):
    """train/val/test loaders from ``processed_dir``; the vocabulary is the train-only one.

    ``unknown`` maps out-of-vocabulary tokens to ids (fastText's nearest word); default ``<unk>``."""

    def __init__(
        self,
        processed_dir: str,
        batch_size: int,
        max_length: int,
        eval_batch_size: int = 64,
        unknown: Callable[[str], int] | None = None,
        workers: int = 0,
    ) -> None:
        super().__init__()
        self.unknown, self.workers = unknown, workers
        self.dir = Path(processed_dir)
        self.batch_size, self.eval_batch_size, self.max_length = batch_size, eval_batch_size, max_length
        self.vocab = Vocab.load(self.dir / "vocab.json")
        self.splits: dict[str, EncodedSplit] = {}

    def split(self, name: str) -> EncodedSplit:
        if name not in self.splits:
            self.splits[name] = EncodedSplit(self.dir / f"{name}.jsonl", self.vocab, self.max_length, self.unknown)
        return self.splits[name]

    def _loader(self, name: str, shuffle: bool, batch_size: int) -> DataLoader:
        return loader(self.split(name), batch_size, shuffle, self.workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size)
