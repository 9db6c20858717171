"""The ``ensemble`` section: one more classifier combining the trained ones, fitted on validation only."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pipeline.config.base import Section


class EnsembleParams(Section):
    enabled: bool = Field(
        False, description="Build the ensemble stage's classifier (models/ensemble), evaluated like any other."
    )
    members: list[str] = Field(
        default_factory=list,
        description="Classifiers to combine (from train/finetune.architectures); empty: every trained one.",
    )
    method: Literal["auto", "mean", "weighted", "stacked"] = Field(
        "auto",
        description="How probabilities are combined: mean; weighted (weights minimising validation log-loss); "
        "stacked (logistic regression on the members' log-probabilities); auto: the best by cross-validated "
        "validation macro-F1.",
    )
    folds: int = Field(5, ge=2, description="Cross-validation folds within the validation split (auto and the record).")

    @field_validator("members")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"lists a member twice: {value}")
        return value
