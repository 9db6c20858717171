"""Lightning training of a language model on packed blocks.

Logged per epoch: ``train/loss`` and ``val/loss`` (mean cross-entropy per predicted token, nats)
and ``val/perplexity`` (``exp`` of it, guarded). The one fit's curve recorder keeps the per-epoch curve,
the training time and the tokens trained on (``pipeline.training.callbacks.RecordCurve``).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from pipeline.generation.metrics import perplexity
from pipeline.generation.networks import build_network, token_loss


class LMModule(L.LightningModule):
    """Next-token cross-entropy on ``(inputs, classes, targets)`` blocks; AdamW."""

    def __init__(
        self,
        kind: str,
        vocab_size: int,
        config: dict[str, Any],
        special_ids: dict[str, int],
        lr: float,
        weight_decay: float = 0.0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = build_network(kind, vocab_size, config, special_ids, num_classes)
        self._val_sum, self._val_count = 0.0, 0

    def forward(self, ids: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        return self.net(ids, classes)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, classes, targets = batch
        total, count = token_loss(self(inputs, classes), targets)
        loss = total / max(1, count)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=max(1, count), sync_dist=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sum, self._val_count = 0.0, 0

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        inputs, classes, targets = batch
        total, count = token_loss(self(inputs, classes), targets)
        self._val_sum += float(total)
        self._val_count += count

    def on_validation_epoch_end(self) -> None:
        # token-weighted over every process of a distributed training (a no-op in one process)
        both = torch.tensor([self._val_sum, float(self._val_count)], dtype=torch.float64, device=self.device)
        total, count = self.trainer.strategy.reduce(both, reduce_op="sum").tolist()
        mean = total / max(1.0, count)
        self.log("val/loss", mean, prog_bar=True)
        self.log("val/perplexity", min(perplexity(mean), 1e30))

    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
