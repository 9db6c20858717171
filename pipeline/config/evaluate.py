"""The ``evaluate`` section (test-set metrics and statistics), ``registry`` (the MLflow model registry) and
``report``."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from pipeline.config.base import Section


class EvaluateParams(Section):
    batch_size: int = Field(64, ge=1, description="Batch size for test-set inference.")
    examples: int = Field(5, ge=0, description="Test documents kept per architecture for the report.")
    bootstrap_resamples: int = Field(
        1000, ge=10, description="Bootstrap resamples of the test split for the accuracy / macro-F1 intervals."
    )
    confidence_level: float = Field(0.95, gt=0, lt=1, description="Level of the bootstrap (percentile) intervals.")
    ece_bins: int = Field(10, ge=1, description="Equal-width confidence bins for the expected calibration error.")
    mcnemar_exact_below: int = Field(
        25,
        ge=0,
        description="McNemar: exact binomial test when the discordant pairs are fewer than this, else chi-square "
        "with continuity correction.",
    )
    significance_level: float = Field(
        0.05, gt=0, lt=1, description="A difference to the best model is called real below this Holm-adjusted p."
    )
    confident_errors: int = Field(
        3, ge=0, description="Most confidently wrong test documents kept per true class and architecture."
    )
    explain_documents: int = Field(
        3, ge=0, description="Test documents explained token by token (attention or integrated gradients)."
    )
    ig_steps: int = Field(32, ge=2, description="Integrated-gradients interpolation steps.")


class RegistryParams(Section):
    model_name: str = Field(
        "arabic-reviews-classifier", min_length=1, description="Name of the best classifier in the MLflow registry."
    )
    alias: str = Field(
        "champion", min_length=1, description="Registry alias of the champion; moves only when the gate promotes."
    )
    select_by: Literal["val", "test"] = Field(
        "val",
        description="Pick the model to register by validation macro-F1 (val: the test split stays an unbiased "
        "estimate) or by test macro-F1 (test).",
    )
    min_f1_macro: float = Field(
        0.0, ge=0, le=1, description="Gate: the challenger's test macro-F1 must reach this to be promoted."
    )
    promote_on: Literal["better", "same"] = Field(
        "same",
        description="Gate: promote when McNemar against the champion on the new test split says better only "
        "(better), or better or no significant difference (same).",
    )
    significance_level: float = Field(
        0.05, gt=0, lt=1, description="Gate: McNemar p below this makes challenger and champion differ."
    )

    @field_validator("alias")
    @classmethod
    def _alias_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", value) or re.fullmatch(r"v\d+", value):
            raise ValueError("must be letters, digits, _ or - (and not v<number>)")
        return value


class ReportParams(Section):
    title: str = Field("Arabic review classifiers", description="Title of the report.")
