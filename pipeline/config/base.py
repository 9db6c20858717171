"""The error type, the frozen section base model and the ``base`` section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ParamsError(ValueError):
    """``params.yaml`` is missing, unreadable or invalid."""


class Section(BaseModel):
    """A params section: unknown keys are errors, values are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def ordered_keys(model: type[BaseModel]) -> list[str]:
    """A section's own keys first, then inherited ones, nearest parent first (``max_epochs`` before
    ``accelerator``): a key ranks by the most basic section model that declares it."""
    parents = [c for c in model.__mro__ if isinstance(c, type) and issubclass(c, Section) and c is not Section]

    def rank(name: str) -> int:
        return max((i for i, parent in enumerate(parents) if name in parent.model_fields), default=0)

    return sorted(model.model_fields, key=rank)


class BaseParams(Section):
    seed: int = Field(42, description="Seed for splits, weight init and data order.")
    deterministic: bool = Field(True, description="Use deterministic algorithms (Lightning `deterministic`).")
    raw_dir: str = Field("data/raw", description="Where the scrape stage writes JSON lines.")
    processed_dir: str = Field("data/processed", description="Where the preprocess stage writes splits.")
    models_dir: str = Field("models", description="One sub-folder per architecture.")
    reports_dir: str = Field("reports", description="Metrics, evaluations and the report.")
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlflow.db", description="MLflow store; the default is what a plain `mlflow ui` opens."
    )
    mlflow_experiment: str = Field("arabic-reviews", description="MLflow experiment name.")
