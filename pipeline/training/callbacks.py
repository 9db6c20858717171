"""Lightning callbacks shared by every training (networks, MLM pretraining, fine-tuning)."""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint


class RecordCurve(Callback):
    """Per-epoch metrics; part of the checkpoint, so a resumed training keeps the earlier epochs.

    ``curve`` rows hold ``epoch``, every logged ``<split>/<metric>`` and ``lr``; ``elapsed_s`` is the
    training time over all runs of this training (resumptions included), ``batch_s`` the part spent in
    training batches (throughput without validation) and ``tokens`` the token positions trained on."""

    def __init__(self) -> None:
        self.curve: list[dict[str, float]] = []
        self.elapsed_s = 0.0
        self.batch_s = 0.0
        self.tokens = 0
        self.start_epoch = 0
        self._mark = time.perf_counter()
        self._batch_mark = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start_epoch = trainer.current_epoch
        self._mark = time.perf_counter()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, i: int) -> None:
        self._batch_mark = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.batch_s += time.perf_counter() - self._batch_mark
        self.tokens += batch_tokens(batch)

    def extra(self, row: dict[str, float]) -> dict[str, float]:
        """Derived per-epoch values added to the row (and logged); none by default."""
        return {}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        now = time.perf_counter()
        self.elapsed_s += now - self._mark
        self._mark = now
        # Runs after the epoch's validation, so train/ and val/ metrics are both current.
        row: dict[str, float] = {"epoch": trainer.current_epoch}
        row.update({k: round(float(v), 6) for k, v in trainer.callback_metrics.items() if "/" in k})
        extra = self.extra(row)
        if extra and trainer.logger is not None:
            trainer.logger.log_metrics(extra, step=trainer.global_step)
        row.update(extra)
        row["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        self.curve.append(row)

    def tokens_per_s(self) -> float | None:
        """Token positions per second of training batches (validation excluded)."""
        return round(self.tokens / self.batch_s, 1) if self.batch_s else None

    def state_dict(self) -> dict[str, Any]:
        return {"curve": self.curve, "elapsed_s": self.elapsed_s, "batch_s": self.batch_s, "tokens": self.tokens}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.curve = list(state_dict["curve"])
        self.elapsed_s = float(state_dict["elapsed_s"])
        self.batch_s = float(state_dict.get("batch_s", 0.0))
        self.tokens = int(state_dict.get("tokens", 0))


class FiniteLoss(Callback):
    """Stop a diverging fit: a NaN/inf training loss raises :class:`FloatingPointError` (a tuning trial is then
    recorded FAIL). A module-level class, so a ``ddp_spawn`` fit can send it to its processes."""

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not math.isfinite(float(loss)):
            raise FloatingPointError(
                f"non-finite training loss ({float(loss)}) at epoch {trainer.current_epoch}, batch {i}"
            )


def batch_tokens(batch: Any) -> int:
    """Token positions in a batch: the first tensor of a list batch (language models), or the token ids
    of a dict batch (``ids`` for the networks, ``input_ids`` for Hugging Face models)."""
    if isinstance(batch, dict):
        ids = batch.get("ids", batch.get("input_ids"))
        return int(ids.numel()) if ids is not None else 0
    if isinstance(batch, list | tuple) and batch and hasattr(batch[0], "numel"):
        return int(batch[0].numel())
    return 0


def best_and_last(ckpt_dir: str, monitor: str | None, mode: str = "max") -> tuple[ModelCheckpoint, ModelCheckpoint]:
    """``best.ckpt`` (best ``monitor``; every epoch when ``monitor`` is None) and ``last.ckpt`` (each epoch).

    Both are written at the end of the training epoch, after validation and the curve. ``save_last``
    only follows a top-k save, so the last checkpoint is a second callback with top 1 and no monitor."""
    best = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    last = ModelCheckpoint(
        dirpath=ckpt_dir, filename="last", save_top_k=1, save_on_train_epoch_end=True, enable_version_counter=False
    )
    return best, last


class ThreadGovernor(Callback):
    """Adapts torch's intra-op threads to the cores other processes leave free, every ``interval_s``
    seconds of training (see :mod:`pipeline.runtime`): fewer threads while another process holds a core,
    back up to ``ceiling`` when it is gone. ``changes`` counts the adjustments."""

    def __init__(self, ceiling: int, interval_s: float = 1.0) -> None:
        from pipeline.runtime import CpuLoad

        self.ceiling, self.interval_s = ceiling, interval_s
        self.load = CpuLoad()
        self.changes = 0
        self._next = 0.0  # first look at the first batch: the window since the fit started

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, i: int) -> None:
        now = time.perf_counter()
        if now < self._next:
            return
        busy = self.load.others()
        if busy is None:
            return
        self._next = now + self.interval_s
        from pipeline.runtime import threads_for_load

        wanted = threads_for_load(self.ceiling, busy)
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)
            self.changes += 1


class TimeBudget(Callback):
    """Stop after the epoch whose successor would overrun ``seconds`` of training (at the mean epoch time so
    far, validation included); the first epoch always runs. A resumed training starts a fresh budget."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.epochs = 0
        self.started = time.perf_counter()
        self.stopped_early = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started, self.epochs = time.perf_counter(), 0

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs += 1
        elapsed = time.perf_counter() - self.started
        if elapsed + elapsed / self.epochs > self.seconds and trainer.current_epoch + 1 < trainer.max_epochs:
            self.stopped_early = trainer.should_stop = True
