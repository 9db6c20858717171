"""The typed run record: ``run.json`` beside every trained model, written by every training stage (train,
finetune, pretrain, train_lm, ensemble) and read by evaluate, register, report, generate and the predictors.

One pydantic model; a field a stage does not produce stays ``None``. Unknown keys are refused on load, so a
record written by other code (or edited by hand) fails loudly, naming the file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline import runlog
from pipeline.data.jsonl import DataError, read_json

log = logging.getLogger("run_record")
RUN_FILE = "run.json"
# Facts of one execution, not results: kept in the run log (pipeline/runlog.py) and MLflow, out of run.json, so
# that the model folder is the same bytes whenever the same params are trained again.
VOLATILE = frozenset(
    {
        "git_commit",
        "train_time_s",
        "train_tokens_per_s",
        "latency_ms_per_doc",
        "gpu_memory_peak_mb",
        "mlflow_run_id",
        "mlflow_experiment_id",
    }
)


class RunRecord(BaseModel):
    """What one training produced, how, from what, and where it is logged."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    # what
    arch: str = Field(description="Architecture or language model name (train.architectures, generate.models).")
    stage: Literal["train", "finetune", "pretrain", "train_lm", "ensemble"]
    family: str = Field(description="Registry family (recurrent, cnn, baseline, pretrained, …; lm for LMs).")
    description: str = ""
    # provenance
    seed: int
    git_commit: str | None = Field(None, description="Run log: the commit the run trained from.")
    versions: dict[str, str]
    params: dict[str, Any] = Field(description="The flat params the model was trained with.")
    tuned: dict[str, Any] | None = None
    # how it ran
    parameters: int
    device: str
    precision: str | None
    torch_threads: int | None = None
    world_size: int | None = Field(None, description="Training processes (DDP ranks over all nodes); 1 alone.")
    gpu_memory_peak_mb: float | None = Field(None, description="Peak CUDA memory allocated by the fit (rank 0).")
    train_time_s: float | None = Field(None, description="Run log: wall time of the fit.")
    epochs_run: int
    resumed_at_epoch: int | None = None
    best_epoch: int | None = None
    curve: list[dict[str, float]] = Field(default_factory=list)
    # where
    checkpoint: str
    last_checkpoint: str | None = None
    mlflow_run_id: str | None = None
    mlflow_experiment_id: str | None = None
    # classifiers
    best_val_f1_macro: float | None = None
    train_samples: int | None = None
    class_weights: list[float] | None = None
    prior_correction: dict[str, Any] | None = None  # alpha and offsets chosen on validation (training/prior.py)
    latency_ms_per_doc: dict[str, float] | None = None
    embeddings: dict[str, Any] | None = None
    C: float | None = None  # a linear floor's chosen regularisation
    ensemble: dict[str, Any] | None = None  # members, method, weights/coefficients, cross-validated scores
    pretrained_checkpoint: str | None = None
    pretrained_here: bool | None = None
    normalize: dict[str, Any] | None = None
    max_length: int | None = None
    # language models and MLM pretraining
    best_val_loss: float | None = None
    val_perplexity: float | None = None
    best_val_perplexity: float | None = None
    tokenizer: str | None = None
    vocab_size: int | None = None
    block_size: int | None = None
    train_stream_tokens: int | None = None
    train_blocks: int | None = None
    val_predicted_tokens: int | None = None
    train_tokens: int | None = None
    train_tokens_per_s: float | None = None
    bert_config: dict[str, Any] | None = None
    corpus: dict[str, Any] | None = None

    @classmethod
    def load(cls, path: Path, run_log: bool = True) -> RunRecord:
        """The record in ``path`` (a ``run.json`` or the model folder holding one), with its run's facts from the
        run log (:mod:`pipeline.runlog`) unless ``run_log`` is False (what a reproducible output may show)."""
        path = path / RUN_FILE if path.is_dir() else path
        if not path.is_file():
            raise DataError(f"{path}: no run record (train the model first)")
        try:
            data = read_json(path)
            return cls.model_validate(runlog.merged(path, data) if run_log else data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(record)"
            raise DataError(f"{path}: invalid run record at {where}: {first['msg']}") from None

    def save(self, folder: Path) -> Path:
        """Write ``<folder>/run.json`` (atomically; the execution's facts to its run log) and return its path."""
        path = folder / RUN_FILE
        runlog.write_json_apart(path, self.model_dump(mode="json"), VOLATILE)
        return path

    def log_to_mlflow(self, client: Any, artifacts: list[Path]) -> None:
        """The record's headline figures and files into its MLflow run (the fit logged the curve)."""
        if self.mlflow_run_id is None:
            return
        run_id = self.mlflow_run_id
        headline = {
            "best/val_f1_macro": self.best_val_f1_macro,
            "best/val_loss": self.best_val_loss,
            "best/val_perplexity": self.best_val_perplexity,
            "train_time_s": self.train_time_s,
            "train_tokens_per_s": self.train_tokens_per_s,
        }
        for key, value in headline.items():
            if value is not None:
                client.log_metric(run_id, key, value)
        for batch, ms in (self.latency_ms_per_doc or {}).items():
            client.log_metric(run_id, f"latency_ms_per_doc/{batch}", ms)
        client.log_param(run_id, "parameters", self.parameters)
        for path in artifacts:
            client.log_artifact(run_id, str(path))
        log.info(
            "%s: best epoch %s of %d, %.1f s, %d parameters%s",
            self.arch,
            self.best_epoch,
            self.epochs_run,
            self.train_time_s or 0.0,
            self.parameters,
            f", val macro-F1 {self.best_val_f1_macro:.4f}" if self.best_val_f1_macro is not None else "",
        )


def seed_dirs(model_dir: Path) -> list[Path]:
    """A trained architecture's model folders: the primary one, then ``seeds/<seed>/`` in seed order."""
    extra = sorted((p for p in (model_dir / "seeds").glob("*") if p.is_dir()), key=lambda p: int(p.name))
    return [model_dir, *extra]
