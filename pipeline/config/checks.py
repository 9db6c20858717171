"""The ``checks`` section: data checks run by preprocess before any split is written."""

from __future__ import annotations

from pydantic import Field

from pipeline.config.base import Section


class ChecksParams(Section):
    min_classes: int = Field(2, ge=1, description="Fewest classes that must have documents (1 = check off).")
    min_per_class: int = Field(
        2, ge=0, description="Fewest documents of every class in each split (train, val and test; 0 = check off)."
    )
    min_arabic_share: float = Field(
        0.5, ge=0, le=1, description="Fewest share of word tokens (tokens with a letter) written in Arabic script."
    )
    max_duplicate_ratio: float = Field(
        0.5, ge=0, le=1, description="Most share of usable documents dropped as exact duplicates."
    )
    max_label_drift: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Most total-variation distance between the class shares and those of the current champion's "
        "corpus (1 = report only, never fail).",
    )
