"""Masked-language-modelling batches with transformers' ``DataCollatorForLanguageModeling``: BERT's 15%
selection, 80% [MASK] / 10% random / 10% unchanged."""

from __future__ import annotations

from typing import Any

import torch
from transformers import DataCollatorForLanguageModeling

IGNORE = -100  # label of positions that carry no loss


class MLMCollator(DataCollatorForLanguageModeling):
    """Pads a batch of wordpiece id lists (``input_ids``, ``attention_mask``) and masks it for MLM.

    Special tokens ([CLS], [SEP], [PAD], [UNK]…) are never selected. With a ``seed`` the collator draws
    from its own generator: the same seed gives the same sequence of masks, and successive calls (epochs)
    give new ones; without, it draws from torch's global generator. At least one position per batch is
    selected (a batch with none would give a NaN loss).
    """

    def __init__(self, tokenizer: Any, probability: float = 0.15, seed: int | None = None) -> None:
        super().__init__(tokenizer=tokenizer, mlm_probability=probability, seed=seed)
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))

    def __call__(self, batch: list[list[int]], return_tensors: str | None = None) -> dict[str, torch.Tensor]:
        out = super().__call__([{"input_ids": ids} for ids in batch], return_tensors="pt")
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"], "labels": out["labels"]}

    def torch_mask_tokens(
        self, inputs: torch.Tensor, special_tokens_mask: Any = None, offset_mapping: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        special = torch.isin(inputs, self.special_ids)
        inputs, labels = super().torch_mask_tokens(inputs, special, offset_mapping)
        if (labels == IGNORE).all() and (~special).any():
            row, col = (~special).nonzero()[0].tolist()
            labels[row, col] = inputs[row, col]
            inputs[row, col] = self.tokenizer.mask_token_id
        return inputs, labels
