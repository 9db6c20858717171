"""One generic LightningModule; the network is a swappable component from the registry."""

from __future__ import annotations

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


class ClassifierModule(L.LightningModule):
    """Cross-entropy training of ``build_network(arch, …)`` with per-split metrics.

    Logged keys: ``train/loss``, ``train/acc``, ``train/f1_macro``, ``val/…``, ``test/…``.
    """

    def __init__(self, arch: str, vocab_size: int, num_classes: int, train_params: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.tp = TrainParams(**train_params)
        self.net: nn.Module = build_network(arch, vocab_size, num_classes, self.tp)
        self.loss = nn.CrossEntropyLoss()
        self.train_metrics = _metrics(num_classes, "train/")
        self.val_metrics = _metrics(num_classes, "val/")
        self.test_metrics = _metrics(num_classes, "test/")

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.net(ids, lengths)

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

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.tp.lr, weight_decay=self.tp.weight_decay)
