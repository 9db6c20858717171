"""The Lightning ``Trainer`` every resumable training uses (networks, language models, MLM pretraining,
fine-tuning): best and last checkpoints, early stopping, the curve recorder, precision for the device."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

from pipeline.training.callbacks import best_and_last


def resolve_precision(choice: str, cuda: bool, bf16_supported: bool = False) -> str:
    """Lightning precision: mixed precision only on a CUDA GPU, full 32-bit on CPU."""
    if not cuda:
        return "32-true"
    if choice == "auto":
        return "bf16-mixed" if bf16_supported else "16-mixed"
    return "32-true" if choice == "32" else choice


def device_precision(accelerator: str, choice: str) -> str:
    """:func:`resolve_precision` for the device ``accelerator`` will train on."""
    cuda = accelerator != "cpu" and torch.cuda.is_available()
    return resolve_precision(choice, cuda, cuda and torch.cuda.is_bf16_supported())


def checkpointed_trainer(
    section: Any,
    *,
    deterministic: bool,
    ckpt_dir: Path,
    root_dir: Path,
    monitor: str | None,
    mode: str,
    logger: Any,
    recorder: Callback,
    callbacks: Sequence[Any] = (),
    precision: str = "auto",
    sanity_val_steps: int | None = 0,
) -> tuple[L.Trainer, str]:
    """A Trainer writing ``best.ckpt`` / ``last.ckpt`` to ``ckpt_dir``, stopping early on ``monitor`` (none
    without one), and the precision it resolved. ``section`` gives ``max_epochs``, ``accelerator``,
    ``patience``, ``grad_clip`` and ``limit_train_batches``; ``sanity_val_steps=None`` keeps Lightning's."""
    best, last = best_and_last(str(ckpt_dir), monitor, mode)
    early = [EarlyStopping(monitor=monitor, mode=mode, patience=section.patience)] if monitor else []
    resolved = device_precision(section.accelerator, precision)
    sanity = {} if sanity_val_steps is None else {"num_sanity_val_steps": sanity_val_steps}
    trainer = L.Trainer(
        max_epochs=section.max_epochs,
        accelerator=section.accelerator,
        devices=1,
        precision=resolved,
        deterministic=deterministic,
        callbacks=[best, last, *early, recorder, *callbacks],
        logger=logger,
        gradient_clip_val=section.grad_clip or None,
        limit_train_batches=section.limit_train_batches,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root_dir),
        log_every_n_steps=1,
        **sanity,
    )
    return trainer, resolved
