"""The masked-language-model LightningModule (fine-tuning uses the classifier module of
:mod:`pipeline.training.module` with a Hugging Face network)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from pipeline.pretrained.masking import IGNORE
from pipeline.training.optim import decay_groups, with_schedule


class MLMModule(L.LightningModule):
    """``BertForMaskedLM`` from a config dict; logs ``train/loss`` and ``val/loss`` per masked token."""

    def __init__(self, bert_config: dict[str, Any], optim: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters()
        from transformers import BertConfig, BertForMaskedLM

        self.model = BertForMaskedLM(BertConfig(**bert_config))
        self.optim = optim

    def mlm_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy at the masked positions only: the vocabulary projection, the costliest part of
        a small model, runs on those ~15% of positions instead of all of them (same loss value)."""
        hidden = self.model.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
        selected = batch["labels"] != IGNORE
        logits = self.model.cls(hidden[selected])
        return nn.functional.cross_entropy(logits.float(), batch["labels"][selected])

    def _loss(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        loss = self.mlm_loss(batch)
        tokens = int((batch["labels"] != IGNORE).sum())
        # weighted by masked tokens: the epoch value is the mean loss per masked token
        val = stage == "val"
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=tokens, prog_bar=val, sync_dist=True)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._loss(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._loss(batch, "val")

    def configure_optimizers(self) -> Any:
        """AdamW without decay on biases and LayerNorm weights; the section's per-step schedule."""
        o = self.optim
        optimizer = torch.optim.AdamW(decay_groups(self, o["weight_decay"]), lr=o["lr"])
        return with_schedule(optimizer, o["scheduler"], o["warmup_ratio"], int(self.trainer.estimated_stepping_batches))
