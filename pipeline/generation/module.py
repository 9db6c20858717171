"""Lightning training of a language model on packed blocks.

Logged per epoch: ``train/loss`` and ``val/loss`` (mean cross-entropy per predicted token, nats)
and ``val/perplexity`` (``exp`` of it, guarded). :class:`CurveRecorder` keeps the per-epoch curve,
the training time and the tokens trained on in its ``state_dict``, so they survive a resume.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

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
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=max(1, count))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sum, self._val_count = 0.0, 0

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        inputs, classes, targets = batch
        total, count = token_loss(self(inputs, classes), targets)
        self._val_sum += float(total)
        self._val_count += count

    def on_validation_epoch_end(self) -> None:
        mean = self._val_sum / max(1, self._val_count)
        self.log("val/loss", mean)
        self.log("val/perplexity", min(perplexity(mean), 1e30))

    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)


class CurveRecorder(Callback):
    """Per-epoch ``train/loss``, ``val/loss``, ``val/perplexity``; training time (batches only, so the
    throughput excludes validation) and tokens; all part of every checkpoint."""

    KEYS = ("train/loss", "val/loss", "val/perplexity")

    def __init__(self) -> None:
        self.curve: list[dict[str, float]] = []
        self.batch_s = 0.0
        self.tokens = 0
        self.start_epoch = 0
        self._t0 = 0.0
        self._epoch_tokens = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, i: int) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        if torch.cuda.is_available() and pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.batch_s += time.perf_counter() - self._t0
        self.tokens += int(batch[0].numel())

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        row: dict[str, float] = {"epoch": trainer.current_epoch}
        row.update(
            {k: round(float(trainer.callback_metrics[k]), 6) for k in self.KEYS if k in trainer.callback_metrics}
        )
        self.curve.append(row)

    def state_dict(self) -> dict[str, Any]:
        return {"curve": self.curve, "batch_s": self.batch_s, "tokens": self.tokens}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.curve = list(state_dict["curve"])
        self.batch_s = float(state_dict["batch_s"])
        self.tokens = int(state_dict["tokens"])
        self.start_epoch = len(self.curve)  # epochs done before this run resumed
