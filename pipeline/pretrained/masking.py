"""Masked-language-modelling batches with transformers' ``DataCollatorForLanguageModeling``: BERT's 15%
selection, 80% [MASK] / 10% random / 10% unchanged; per wordpiece, or per whole word (``whole_word``: every
piece of a selected word is masked together, so ``##`` pieces cannot be guessed from their own word's other
pieces)."""

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

    def __init__(
        self, tokenizer: Any, probability: float = 0.15, seed: int | None = None, whole_word: bool = False
    ) -> None:
        super().__init__(tokenizer=tokenizer, mlm_probability=probability, seed=seed, whole_word_mask=whole_word)
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        # WordPiece marks a piece that continues the previous one's word with "##"
        self.continues = torch.tensor([str(t).startswith("##") for t in vocab] + [False])

    def __call__(self, batch: list[list[int]], return_tensors: str | None = None) -> dict[str, torch.Tensor]:
        out = super().__call__([{"input_ids": ids} for ids in batch], return_tensors="pt")
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"], "labels": out["labels"]}

    def word_offsets(self, inputs: torch.Tensor) -> torch.Tensor:
        """Character offsets of a text in which each word's pieces touch and words are one space apart: what
        transformers' whole-word masking reads word boundaries from (a piece starting where the last ended
        continues its word)."""
        cont = self.continues[inputs.clamp(max=len(self.continues) - 1)]
        step = 1 + (~cont).long()  # one character per piece, plus a space before a new word
        step[:, 0] = 0
        starts = torch.cumsum(step, dim=1)
        return torch.stack([starts, starts + 1], dim=-1)

    def torch_mask_tokens(
        self, inputs: torch.Tensor, special_tokens_mask: Any = None, offset_mapping: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        special = torch.isin(inputs, self.special_ids)
        if self.whole_word_mask:
            offset_mapping = self.word_offsets(inputs)
        inputs, labels = super().torch_mask_tokens(inputs, special, offset_mapping)
        if (labels == IGNORE).all() and (~special).any():
            row, col = (~special).nonzero()[0].tolist()
            labels[row, col] = inputs[row, col]
            inputs[row, col] = self.tokenizer.mask_token_id
        return inputs, labels
