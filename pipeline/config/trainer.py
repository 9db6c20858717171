"""Keys of Lightning's Trainer and the fit, defined once for every training section.

``train``, ``finetune``, ``pretrain`` and ``generate.train`` inherit :class:`EarlyStoppingParams` (the
Trainer keys plus an epoch budget with early stopping; pretrain's default patience equals its epoch budget,
so by default every epoch runs and the best one is kept). A section whose default differs redeclares the field with
:func:`default`, which keeps the type, bounds and description.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic.fields import FieldInfo

from pipeline.config.base import Section

Accelerator = Literal["auto", "cpu", "gpu"]
Precision = Literal["auto", "32", "16-mixed", "bf16-mixed"]
Strategy = Literal["auto", "ddp", "ddp_spawn", "fsdp"]
Epochs = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(gt=0, le=1)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]


def default(model: type[Section], name: str, value: Any) -> FieldInfo:
    """``model``'s field ``name`` with another default: redeclare it as ``name: <same type> = default(...)``."""
    return Field(value, description=model.model_fields[name].description)


class TrainerParams(Section):
    """Lightning Trainer, DataLoader and torch-thread keys shared by every training section."""

    accelerator: Accelerator = Field("auto", description="Lightning accelerator (auto: a GPU when present).")
    devices: int | Literal["auto"] = Field(
        1, description="Devices per node (GPUs, or processes with accelerator cpu), an integer >= 1 or auto (all)."
    )
    num_nodes: PositiveInt = Field(1, description="Machines taking part in the fit (multi-node ddp/fsdp).")
    strategy: Strategy = Field(
        "auto", description="Lightning strategy with several devices or nodes: auto, ddp, ddp_spawn or fsdp."
    )
    precision: Precision = Field(
        "auto",
        description="Precision on a GPU (auto: bf16-mixed where supported, else 16-mixed; bf16-mixed on a GPU without "
        "bf16 is refused); always 32 on CPU.",
    )
    grad_clip: NonNegativeFloat = Field(1.0, description="Gradient-norm clip (0 = off).")
    limit_train_batches: Fraction = Field(1.0, description="Fraction of train batches per epoch.")
    num_workers: NonNegativeInt = Field(
        0, description="DataLoader worker processes per training process (0 = load batches in the main process)."
    )
    num_threads: NonNegativeInt = Field(
        0,
        description="torch intra-op threads per training process; 0 = auto: 1 under base.deterministic (the same "
        "weights under any load), else the cores this process may use (os.sched_getaffinity) divided among its "
        "processes, lowered while other processes keep cores busy; env PIPELINE_NUM_THREADS overrides it.",
    )

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, value: Any) -> Any:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError("must be an integer >= 1 or 'auto'")


class EarlyStoppingParams(TrainerParams):
    """:class:`TrainerParams` plus an epoch budget cut short by early stopping."""

    max_epochs: Epochs = Field(15, description="Upper bound on epochs.")
    patience: PositiveInt = Field(
        4,
        description="Early-stopping patience in epochs, on the section's validation metric (val/f1_macro for "
        "classifiers, val/loss for language models).",
    )
