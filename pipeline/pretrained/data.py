"""Wordpiece datasets: pretraining texts (MLM batches) and split rows (classification batches)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from pipeline.data.split import read_split
from pipeline.pretrained.masking import MLMCollator


def encode(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Wordpiece ids with the tokenizer's specials, cut to ``max_length``."""
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``, right-padded to the longest sequence."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[i, : len(seq)] = 1
    return ids, mask


class MLMDataModule(L.LightningDataModule):
    """Train (masks drawn afresh each epoch from ``seed + 1``) and validation (masks fixed by ``seed``) MLM batches."""

    def __init__(
        self,
        tokenizer: Any,
        train: list[list[int]],
        val: list[list[int]],
        batch_size: int,
        probability: float,
        seed: int,
        workers: int = 0,
        whole_word: bool = False,
    ) -> None:
        super().__init__()
        self.train_ids, self.batch_size, self.workers = train, batch_size, workers
        self.train_collate = MLMCollator(tokenizer, probability, seed + 1, whole_word)
        collate = MLMCollator(tokenizer, probability, seed, whole_word)
        # Fixed validation batches: the same masked positions every epoch, so the loss is comparable.
        self.val_batches = [collate(val[i : i + batch_size]) for i in range(0, len(val), batch_size)]

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_ids,
            batch_size=self.batch_size,
            shuffle=True,
            collate_fn=self.train_collate,  # seeded per worker by the collator (seed + worker id)
            num_workers=self.workers,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_batches, batch_size=None)


class EncodedRows(Dataset):
    """One split's rows as (wordpiece ids, label), text passed through ``text`` first."""

    def __init__(self, rows: list[dict[str, Any]], tokenizer: Any, text: Callable[[str], str], max_length: int) -> None:
        self.rows = rows
        self.ids = encode(tokenizer, [text(r["text"]) for r in rows], max_length)
        self.labels = [int(r.get("label", 0)) for r in rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[list[int], int]:
        return self.ids[i], self.labels[i]


class ClassificationCollator:
    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        ids, attention = pad([ids for ids, _ in batch], self.pad_id)
        return {"input_ids": ids, "attention_mask": attention, "labels": torch.tensor([y for _, y in batch])}


class SplitDataModule(L.LightningDataModule):
    """train/val/test loaders over ``processed_dir``'s split files (raw ``text``, sorted by id)."""

    def __init__(
        self,
        processed_dir: str,
        tokenizer: Any,
        text: Callable[[str], str],
        max_length: int,
        batch_size: int,
        workers: int = 0,
    ) -> None:
        super().__init__()
        self.dir, self.tokenizer, self.text, self.max_length = Path(processed_dir), tokenizer, text, max_length
        self.batch_size, self.workers = batch_size, workers
        self.collate = ClassificationCollator(tokenizer.pad_token_id)
        self.splits: dict[str, EncodedRows] = {}

    def split(self, name: str) -> EncodedRows:
        if name not in self.splits:
            rows = read_split(self.dir / f"{name}.jsonl")
            self.splits[name] = EncodedRows(rows, self.tokenizer, self.text, self.max_length)
        return self.splits[name]

    def _loader(self, name: str, shuffle: bool, batch_size: int) -> DataLoader:
        return DataLoader(
            self.split(name), batch_size=batch_size, shuffle=shuffle, collate_fn=self.collate, num_workers=self.workers
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False, 64)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, 64)
