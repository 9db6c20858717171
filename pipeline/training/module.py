"""One generic LightningModule for every classifier; the network is a swappable component."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from pipeline.config import TrainParams
from pipeline.models.networks import build_network
from pipeline.models.registry import kind
from pipeline.training.optim import decay_groups, with_schedule


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


class ClassifierModule(L.LightningModule):
    """Cross-entropy training of any registered classifier network, with one torchmetrics object per split.

    The network is a component: ``build_network(arch, …)`` for the train stage's networks, or a Hugging Face
    sequence classifier loaded from ``checkpoint`` for the pretrained architectures (finetune stage). A batch
    is a dict of the network's inputs plus ``labels`` (``ids``/``lengths`` for the networks,
    ``input_ids``/``attention_mask`` for Hugging Face models). ``settings`` is the params section the model
    trains with (``train`` or ``finetune``, dumped). Logged keys: ``train/loss``, ``train/acc``,
    ``train/f1_macro``, ``val/…``, ``test/…``.
    """

    def __init__(
        self,
        arch: str,
        vocab_size: int,
        num_classes: int,
        settings: dict[str, Any],
        class_weights: list[float] | None = None,
        checkpoint: str | None = None,
        labels: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.pretrained = kind(arch) == "pretrained"
        if self.pretrained:
            from pipeline.config import FinetuneParams
            from pipeline.pretrained.hub import HubClassifier

            self.tp: Any = FinetuneParams(**settings)
            self.net: nn.Module = HubClassifier(checkpoint or "", labels or [str(i) for i in range(num_classes)])
        else:
            self.tp = TrainParams(**settings)
            self.net = build_network(arch, vocab_size, num_classes, self.tp)
            if self.tp.embedding_init != "random" and self.tp.freeze_embeddings:
                self.word_embedding().weight.requires_grad_(False)
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.loss = nn.CrossEntropyLoss(weight=weight)
        self.train_metrics = _metrics(num_classes, "train/")
        self.val_metrics = _metrics(num_classes, "val/")
        self.test_metrics = _metrics(num_classes, "test/")

    def forward(self, *args: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        return self.net(*args, **inputs)

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

    def _logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self(**{k: v for k, v in batch.items() if k != "labels"})

    def _step(self, batch: dict[str, torch.Tensor], stage: str, metrics: MetricCollection) -> torch.Tensor:
        logits = self._logits(batch)
        loss = self.loss(logits.float(), batch["labels"])
        metrics.update(logits.argmax(-1), batch["labels"])
        n = len(batch["labels"])
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)  # mean of ranks
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage == "val")  # the monitored metric
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train", self.train_metrics)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val", self.val_metrics)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test", self.test_metrics)

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return torch.softmax(self._logits(batch), dim=-1)

    def configure_optimizers(self) -> Any:
        """Adam for the networks, AdamW without decay on biases and norms for Hugging Face models; the
        section's ``scheduler`` (see :mod:`pipeline.training.optim`)."""
        tp = self.tp
        if self.pretrained:
            optimizer: torch.optim.Optimizer = torch.optim.AdamW(decay_groups(self, tp.weight_decay), lr=tp.lr)
        else:
            trainable = [p for p in self.parameters() if p.requires_grad]
            optimizer = torch.optim.Adam(trainable, lr=tp.lr, weight_decay=tp.weight_decay)
        total = int(self.trainer.estimated_stepping_batches) if tp.scheduler in ("linear", "cosine") else 1
        return with_schedule(optimizer, tp.scheduler, tp.warmup_ratio, total, patience=max(0, tp.patience // 2 - 1))
