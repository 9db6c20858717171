"""Optimisers and learning-rate schedules shared by every LightningModule.

Warmup schedules are ``transformers.get_linear_schedule_with_warmup`` /
``get_cosine_schedule_with_warmup`` (per optimiser step: linear warmup from 0, then linear or half-cosine
decay to 0); ``plateau`` halves the LR when the monitored validation metric stops improving.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

OPTIM_KEYS = ("lr", "weight_decay", "scheduler", "warmup_ratio")


def optim_settings(section: Any) -> dict[str, Any]:
    """The optimiser keys of a params section (what the modules keep as hyperparameters: the keys a
    resumed training may change, such as the epoch count, stay out of the checkpoint and MLflow params)."""
    return {k: getattr(section, k) for k in OPTIM_KEYS}


def decay_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters in two groups: with weight decay, and without (biases, norms, 1-d weights)."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "layernorm" in name.lower() else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def with_schedule(
    optimizer: torch.optim.Optimizer,
    kind: str,
    warmup_ratio: float,
    total_steps: int,
    monitor: str = "val/f1_macro",
    patience: int = 2,
) -> Any:
    """Lightning's ``configure_optimizers`` answer for ``optimizer`` under schedule ``kind``
    (``none``, ``linear``, ``cosine`` or ``plateau``)."""
    if kind == "none":
        return optimizer
    if kind == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=patience)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": monitor, "interval": "epoch"}}
    from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

    total = max(1, int(total_steps))
    make = get_linear_schedule_with_warmup if kind == "linear" else get_cosine_schedule_with_warmup
    sched = make(optimizer, num_warmup_steps=int(warmup_ratio * total), num_training_steps=total)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
