"""LightningModules: masked-language-model pretraining and sequence-classification fine-tuning."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from pipeline.pretrained.masking import IGNORE
from pipeline.training.module import _metrics, schedule_factor

OPTIM_KEYS = ("lr", "weight_decay", "scheduler", "warmup_ratio")


def optim_settings(section: Any) -> dict[str, Any]:
    """The optimiser keys of a params section (what the modules keep as hyperparameters: the keys a
    resumed training may change, such as the epoch count, stay out of the checkpoint and MLflow params)."""
    return {k: getattr(section, k) for k in OPTIM_KEYS}


def adamw_with_schedule(module: L.LightningModule, lr: float, weight_decay: float, kind: str, warmup: float) -> Any:
    """AdamW (no decay on biases and LayerNorm weights) and a per-step linear/cosine schedule with warmup."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "LayerNorm" in name or "layernorm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=lr)
    if kind == "none":
        return optimizer
    total = max(1, int(module.trainer.estimated_stepping_batches))
    steps = int(warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: schedule_factor(kind, step, steps, total))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


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
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=tokens)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._loss(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._loss(batch, "val")

    def configure_optimizers(self) -> Any:
        o = self.optim
        return adamw_with_schedule(self, o["lr"], o["weight_decay"], o["scheduler"], o["warmup_ratio"])


class SequenceClassifierModule(L.LightningModule):
    """Fine-tunes ``AutoModelForSequenceClassification`` from ``checkpoint`` (hub name or folder).

    Logged keys as for the networks: ``train/loss``, ``train/acc``, ``train/f1_macro``, ``val/…``."""

    def __init__(
        self,
        checkpoint: str,
        labels: list[str],
        optim: dict[str, Any],
        class_weights: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        from pipeline.pretrained.hub import load_classifier

        self.model = load_classifier(checkpoint, labels).train()  # from_pretrained returns it in eval mode
        self.optim = optim
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.loss = nn.CrossEntropyLoss(weight=weight)
        self.train_metrics = _metrics(len(labels), "train/")
        self.val_metrics = _metrics(len(labels), "val/")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def _step(self, batch: dict[str, torch.Tensor], stage: str, metrics: Any) -> torch.Tensor:
        logits = self(batch["input_ids"], batch["attention_mask"])
        loss = self.loss(logits.float(), batch["labels"])
        metrics.update(logits.argmax(-1), batch["labels"])
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["labels"]))
        self.log_dict(metrics, on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train", self.train_metrics)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val", self.val_metrics)

    def configure_optimizers(self) -> Any:
        o = self.optim
        return adamw_with_schedule(self, o["lr"], o["weight_decay"], o["scheduler"], o["warmup_ratio"])
