"""The one fit. Every training runs through :func:`fit`: classifier networks (train stage), language models
(train_lm), MLM pretraining (pretrain), fine-tuning (finetune) and every Optuna trial (tune).

The Lightning ``Trainer`` is built here and nowhere else (:func:`build_trainer`): early stopping,
best/last checkpoints, resume, MLflow logging, seeding, precision, ``accelerator``/``devices``/``strategy``,
the CPU thread policy and the progress bar are set once, from the section's trainer keys.

A fit with a :class:`~pipeline.training.state.TrainingState` is resumable: while it runs, ``best.ckpt`` and
``last.ckpt`` live in the state folder (outside the DVC output, which DVC deletes before re-running a stage);
a run with the same fingerprint resumes from ``last.ckpt`` in the same MLflow run; at the end both move to
``out_dir`` and the state is removed. A fit without state (an Optuna trial) keeps no checkpoint and logs
nothing to MLflow itself (the trial's callbacks do).

Distributed (``devices`` > 1 or ``num_nodes`` > 1 with ``ddp``/``ddp_spawn``/``fsdp``): every process runs the
stage; only global rank 0 (:mod:`pipeline.training.distributed`) keeps the state, the checkpoints and the MLflow
run, and :attr:`FitResult.rank_zero` tells the caller whether to write its run record.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import ParamsError
from pipeline.runtime import ThreadSettings, apply_thread_policy, reproducible_threads
from pipeline.training.callbacks import RecordCurve, ThreadGovernor, best_and_last
from pipeline.training.distributed import is_rank_zero
from pipeline.training.state import TrainingState

log = logging.getLogger("fit")

CLASSIFIER_MONITOR = "val/f1_macro"  # what classifiers stop early on and keep the best epoch of
LM_MONITOR = "val/loss"  # language models and MLM pretraining
# Trainer keys that may change between an interrupted training and its resumption (they change how or
# how long it runs, not what one epoch computes), plus the list keys of a section.
RESUME_FREE = frozenset(
    {
        "architectures",
        "seeds",
        "max_epochs",
        "epochs",
        "patience",
        "resume",
        "state_dir",
        "output_dir",
        "accelerator",
        "precision",
        "devices",
        "num_nodes",
        "strategy",
        "num_threads",
        "num_workers",
    }
)


def resumable_settings(section: Any) -> dict[str, Any]:
    """A params section without :data:`RESUME_FREE` keys: what a resumed training must share."""
    return {k: v for k, v in section.model_dump().items() if k not in RESUME_FREE}


class PrecisionError(ParamsError):
    """A device or precision this machine cannot train with (no GPU, or bf16 on a GPU without it)."""


def resolve_precision(choice: str, cuda: bool, bf16_supported: bool = False) -> str:
    """Lightning precision: mixed precision only on a CUDA GPU, full 32-bit on CPU; ``bf16-mixed`` asked for on a
    GPU without bf16 support is refused (:class:`PrecisionError`) rather than silently emulated."""
    if not cuda:
        return "32-true"
    if choice == "auto":
        return "bf16-mixed" if bf16_supported else "16-mixed"
    if choice == "bf16-mixed" and not bf16_supported:
        raise PrecisionError(
            "precision bf16-mixed: this GPU has no bf16 support (compute capability < 8.0); use auto, 16-mixed or 32"
        )
    return "32-true" if choice == "32" else choice


def resolve_device(accelerator: str, choice: str, cuda_available: bool, bf16_supported: bool) -> tuple[str, str]:
    """(device kind ``cuda`` or ``cpu``, Lightning precision) for the ``accelerator`` and ``precision`` keys on a
    machine with or without a CUDA GPU; ``accelerator: gpu`` without one is refused (:class:`PrecisionError`)."""
    if accelerator == "gpu" and not cuda_available:
        raise PrecisionError(
            "accelerator gpu: no CUDA GPU is visible (torch.cuda.is_available() is False); use auto or cpu"
        )
    cuda = accelerator != "cpu" and cuda_available
    return ("cuda" if cuda else "cpu"), resolve_precision(choice, cuda, cuda and bf16_supported)


def device_precision(accelerator: str, choice: str) -> str:
    """:func:`resolve_precision` for the device ``accelerator`` will train on, on this machine."""
    import torch

    cuda = torch.cuda.is_available()
    return resolve_device(accelerator, choice, cuda, cuda and torch.cuda.is_bf16_supported())[1]


@dataclass
class FitSpec:
    """What one fit needs beyond the module, the data and the trainer keys."""

    name: str  # logs and the MLflow run name
    stage: str  # MLflow tag
    monitor: str | None  # early stopping and best checkpoint; None: no early stopping, best = last epoch
    mode: str = "max"
    early_stopping: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    hyperparams: dict[str, Any] | None = None  # logged once, on a fresh start
    state: TrainingState | None = None  # None: no checkpoints, no MLflow run (Optuna trials)
    out_dir: Path | None = None  # where best.ckpt and last.ckpt end (with ``state``)
    sanity_val_steps: int | None = 0  # None keeps Lightning's default
    processes: int = 1  # processes sharing this machine's cores (DDP processes, parallel workers)
    num_threads: int | None = None  # intra-op threads instead of the section's num_threads (tuning trials)
    max_minutes: float = 0.0  # a time budget: no epoch starts that would overrun it (0: none)


@dataclass
class FitResult:
    """What a fit leaves: the curve recorder, where the checkpoints are, the MLflow run."""

    recorder: RecordCurve
    resumed: bool
    precision: str
    device: str
    threads: ThreadSettings
    run_id: str | None = None
    experiment_id: str | None = None
    client: Any = None  # MlflowClient
    rank_zero: bool = True  # False in the other processes of a distributed fit: they write nothing
    world_size: int = 1  # processes that trained together (DDP ranks over all nodes)
    gpu_memory_peak_mb: float | None = None  # torch.cuda.max_memory_allocated during the fit, on a GPU
    best: Path | None = None
    last: Path | None = None

    def summary(self, model: Any, best_row: dict[str, Any], keeps_last: bool = True) -> dict[str, Any]:
        """The run-record fields every fit shares: size, device, time, epochs, best epoch, threads, the curve,
        the MLflow run and (``keeps_last``) the last checkpoint."""
        return {
            "curve": self.recorder.curve,
            "mlflow_run_id": self.run_id,
            "mlflow_experiment_id": self.experiment_id,
            **({"last_checkpoint": str(self.last)} if keeps_last and self.last is not None else {}),
            "parameters": sum(p.numel() for p in model.parameters()),
            "device": self.device,
            "precision": self.precision,
            "train_time_s": round(self.recorder.elapsed_s, 2),
            "epochs_run": len(self.recorder.curve),
            "resumed_at_epoch": self.recorder.start_epoch if self.resumed else None,
            "best_epoch": best_row.get("epoch"),
            "torch_threads": self.threads.intra_op,
            "world_size": self.world_size,
            "gpu_memory_peak_mb": self.gpu_memory_peak_mb,
        }


def processes_per_machine(section: Any) -> int:
    """Training processes this fit starts on one machine: one per device for multi-process CPU training
    (DDP on CPU), else one (a GPU process needs few CPU threads, and ``auto`` devices are not known yet)."""
    return section.devices if _on_cpu(section) and isinstance(section.devices, int) else 1


def _on_cpu(section: Any) -> bool:
    """Whether the fit computes on the CPU (where the thread count matters)."""
    import torch

    return section.accelerator == "cpu" or (section.accelerator == "auto" and not torch.cuda.is_available())


def build_trainer(
    section: Any,
    spec: FitSpec,
    *,
    deterministic: bool,
    logger: Any,
    callbacks: Sequence[Any],
) -> tuple[Any, str]:
    """The Lightning ``Trainer`` for ``section``'s trainer keys, and the precision it resolved."""
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping

    checkpoints: list[Any] = []
    if spec.state is not None:
        checkpoints = list(best_and_last(str(spec.state.checkpoints), spec.monitor, spec.mode))
    early = []
    if spec.monitor and spec.early_stopping:
        early = [EarlyStopping(monitor=spec.monitor, mode=spec.mode, patience=section.patience)]
    budget = []
    if spec.max_minutes:
        from pipeline.training.callbacks import TimeBudget

        budget = [TimeBudget(spec.max_minutes * 60)]
    precision = device_precision(section.accelerator, section.precision)
    sanity = {} if spec.sanity_val_steps is None else {"num_sanity_val_steps": spec.sanity_val_steps}
    trainer = L.Trainer(
        max_epochs=section.max_epochs,
        accelerator=section.accelerator,
        devices=section.devices,
        num_nodes=section.num_nodes,
        strategy=section.strategy,
        precision=precision,
        deterministic=deterministic,
        callbacks=[*checkpoints, *early, *budget, *callbacks],
        logger=logger,
        enable_checkpointing=spec.state is not None,
        gradient_clip_val=section.grad_clip or None,
        limit_train_batches=section.limit_train_batches,
        # epochs with ETA and val metrics on a terminal, none in CI logs; an Optuna trial (no state): the
        # study's trial bar instead
        enable_progress_bar=os.isatty(1) and spec.state is not None,
        enable_model_summary=False,
        default_root_dir=str(spec.state.dir) if spec.state is not None else None,
        log_every_n_steps=1,
        **sanity,
    )
    return trainer, precision


def _cuda_peak_reset(trainer: Any) -> bool:
    """Whether the fit runs on a CUDA GPU; if so, start counting its peak memory afresh."""
    import torch

    cuda = trainer.strategy.root_device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(trainer.strategy.root_device)
    return cuda


CALLBACK_TIMINGS = ("elapsed_s", "batch_s")  # RecordCurve's clock: how fast this run was, not the model


def rewrite_checkpoint(path: Path, edit: Any) -> None:
    """Load the checkpoint at ``path``, let ``edit`` change the dict in place, and save it back atomically
    (through a temporary file beside it)."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    edit(ckpt)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)


def publishable(path: Path) -> None:
    """Rewrite a finished checkpoint so that the same training gives the same bytes: the callbacks' absolute
    paths (the state folder this run used) become file names, and their clocks are zeroed. Weights, optimiser,
    loops and the rest are untouched; resuming reads the state folder's own checkpoint, not this one."""

    def edit(ckpt: dict[str, Any]) -> None:
        for cb in (ckpt.get("callbacks") or {}).values():
            for key, value in list(cb.items()):
                if isinstance(value, str) and os.path.isabs(value):
                    cb[key] = os.path.basename(value)
                elif isinstance(value, dict) and any(isinstance(k, str) and os.path.isabs(k) for k in value):
                    cb[key] = {os.path.basename(k) if isinstance(k, str) else k: v for k, v in value.items()}
                elif key in CALLBACK_TIMINGS:
                    cb[key] = 0.0

    rewrite_checkpoint(path, edit)


def _cuda_peak_mb() -> float:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def _mlflow_logger(spec: FitSpec, base: Any) -> Any:
    from lightning.pytorch.loggers import MLFlowLogger

    from pipeline.tracking import provenance_tags, setup_mlflow, tracking_uri

    setup_mlflow(base)
    return MLFlowLogger(
        experiment_name=base.mlflow_experiment,
        run_name=spec.name,
        tracking_uri=tracking_uri(base),
        tags={**provenance_tags(base.seed), "stage": spec.stage, **spec.tags},
        run_id=spec.state.mlflow_run_id if spec.state else None,
    )


def fit(
    module: Any,
    data: Any,
    section: Any,
    base: Any,
    spec: FitSpec,
    recorder: RecordCurve | None = None,
    callbacks: Sequence[Any] = (),
) -> FitResult:
    """Train ``module`` on ``data`` (a LightningDataModule, or a ``(train_loader, val_loader)`` pair) with
    ``section``'s trainer keys; the caller seeds and builds the module. See the module docstring."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS on GPUs
    requested = section.num_threads if spec.num_threads is None else spec.num_threads
    requested = reproducible_threads(requested, base.deterministic)  # the same weights under any load (1 when 0)
    threads = apply_thread_policy(requested, spec.processes * processes_per_machine(section))
    recorder = recorder or RecordCurve()
    state = spec.state
    writer = is_rank_zero(section)
    logger = _mlflow_logger(spec, base) if state is not None and writer else False
    if state is not None and writer:
        if state.mlflow_run_id is not None:  # a resumed training reopens its run as this process's
            from pipeline.tracking import claim_run

            claim_run(logger.experiment, logger.run_id)
        state.save(logger.run_id)
    governor = [ThreadGovernor(threads.intra_op)] if threads.adaptive and _on_cpu(section) else []
    trainer, precision = build_trainer(
        section, spec, deterministic=base.deterministic, logger=logger, callbacks=[recorder, *governor, *callbacks]
    )
    resume_from = state.resume_from if state is not None else None
    if resume_from is not None:
        log.info("%s: resuming an interrupted training from %s", spec.name, resume_from)
    elif logger and spec.hyperparams:
        logger.log_hyperparams(spec.hyperparams)
    if isinstance(data, tuple):
        loaders = {"train_dataloaders": data[0], "val_dataloaders": data[1]}
    else:
        loaders = {"datamodule": data}
    cuda = _cuda_peak_reset(trainer)
    trainer.fit(module, ckpt_path=str(resume_from) if resume_from else None, weights_only=True, **loaders)

    result = FitResult(
        recorder=recorder,
        resumed=resume_from is not None,
        precision=precision,
        device=str(trainer.strategy.root_device),
        threads=threads,
        rank_zero=trainer.is_global_zero,
        world_size=trainer.world_size,
        gpu_memory_peak_mb=_cuda_peak_mb() if cuda else None,
    )
    if state is None or not trainer.is_global_zero:
        return result
    out_dir = spec.out_dir or state.dir
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("best.ckpt", "last.ckpt"):
        shutil.move(str(state.checkpoints / name), str(out_dir / name))
        publishable(out_dir / name)
    state.clear()
    result.run_id, result.experiment_id, result.client = logger.run_id, logger.experiment_id, logger.experiment
    result.best, result.last = out_dir / "best.ckpt", out_dir / "last.ckpt"
    return result
