"""One generic LightningModule; the network is a swappable component from the registry."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from pipeline.config import TrainParams
from pipeline.models.networks import build_network


def _metrics(num_classes: int, prefix: str) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes=num_classes, average="micro"),
            "f1_macro": MulticlassF1Score(num_classes=num_classes, average="macro"),
        },
        prefix=prefix,
    )


def balanced_class_weights(labels: Sequence[int], num_classes: int) -> list[float]:
    """``n / (num_classes * count_c)`` per class (scikit-learn's "balanced"); a class absent from
    ``labels`` gets weight 1 (it contributes no loss term anyway)."""
    counts = [0] * num_classes
    for y in labels:
        counts[int(y)] += 1
    n = len(labels)
    return [n / (num_classes * c) if c else 1.0 for c in counts]


def schedule_factor(kind: str, step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier at optimizer step ``step`` (0-based) for the per-step schedules.

    ``linear``/``cosine``: linear warmup from 1/(warmup+1) to 1 over ``warmup_steps``, then linear or
    half-cosine decay to 0 at ``total_steps``; ``none`` (and ``plateau``, driven by validation): 1.
    """
    if kind not in ("linear", "cosine"):
        return 1.0
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if kind == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class ClassifierModule(L.LightningModule):
    """Cross-entropy training of ``build_network(arch, …)`` with per-split metrics.

    Logged keys: ``train/loss``, ``train/acc``, ``train/f1_macro``, ``val/…``, ``test/…``.
    """

    def __init__(
        self,
        arch: str,
        vocab_size: int,
        num_classes: int,
        train_params: dict[str, Any],
        class_weights: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.tp = TrainParams(**train_params)
        self.net: nn.Module = build_network(arch, vocab_size, num_classes, self.tp)
        if self.tp.embedding_init != "random" and self.tp.freeze_embeddings:
            self.word_embedding().weight.requires_grad_(False)
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.loss = nn.CrossEntropyLoss(weight=weight)
        self.train_metrics = _metrics(num_classes, "train/")
        self.val_metrics = _metrics(num_classes, "val/")
        self.test_metrics = _metrics(num_classes, "test/")

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.net(ids, lengths)

    def word_embedding(self) -> nn.Embedding:
        """The network's token embedding table (vocabulary size x embedding_dim)."""
        encoder = self.net.encoder
        return encoder.encoder.embedding if hasattr(encoder, "encoder") else encoder.embedding

    def set_embeddings(self, matrix: Any) -> None:
        """Start from pretrained vectors (one row per vocabulary id)."""
        table = self.word_embedding()
        weights = torch.as_tensor(matrix, dtype=table.weight.dtype)
        if tuple(weights.shape) != tuple(table.weight.shape):
            shape, table_shape = tuple(weights.shape), tuple(table.weight.shape)
            raise ValueError(f"embedding matrix {shape} does not fit the table {table_shape}")
        with torch.no_grad():
            table.weight.copy_(weights)

    def _step(self, batch: dict[str, torch.Tensor], stage: str, metrics: MetricCollection) -> torch.Tensor:
        logits = self(batch["ids"], batch["lengths"])
        loss = self.loss(logits, batch["labels"])
        metrics.update(logits.argmax(-1), batch["labels"])
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["labels"]))
        self.log_dict(metrics, on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train", self.train_metrics)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val", self.val_metrics)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test", self.test_metrics)

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return torch.softmax(self(batch["ids"], batch["lengths"]), dim=-1)

    def configure_optimizers(self) -> Any:
        """Adam and the ``train.scheduler`` schedule."""
        trainable = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=self.tp.lr, weight_decay=self.tp.weight_decay)
        kind = self.tp.scheduler
        if kind == "none":
            return optimizer
        if kind == "plateau":
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="max", factor=0.5, patience=max(0, self.tp.patience // 2 - 1)
            )
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": plateau, "monitor": "val/f1_macro", "interval": "epoch"},
            }
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(self.tp.warmup_ratio * total)
        sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: schedule_factor(kind, step, warmup, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
