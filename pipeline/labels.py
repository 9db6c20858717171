"""Discretise 0–10 scores into classes."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from pipeline.config import BinsParams


@dataclass(frozen=True)
class ClassMap:
    """Score bins and their labels; class ``i`` holds ``edges[i-1] <= score < edges[i]``."""

    edges: tuple[float, ...]
    labels: tuple[str, ...]

    @classmethod
    def from_params(cls, bins: BinsParams) -> ClassMap:
        return cls(tuple(bins.edges), tuple(bins.labels))

    def label_id(self, score: float) -> int:
        if not 0 <= score <= 10:
            raise ValueError(f"score {score} is outside 0–10")
        return bisect.bisect_right(self.edges, score)

    def ranges(self) -> list[dict[str, object]]:
        bounds = [0.0, *self.edges, 10.0]
        return [
            {
                "id": i,
                "label": lab,
                "min_score": bounds[i],
                "max_score": bounds[i + 1],
                "max_inclusive": i == len(self.labels) - 1,
            }
            for i, lab in enumerate(self.labels)
        ]

    def to_json(self) -> dict[str, object]:
        return {"labels": list(self.labels), "edges": list(self.edges), "classes": self.ranges()}

    @classmethod
    def from_json(cls, obj: dict) -> ClassMap:
        return cls(tuple(obj["edges"]), tuple(obj["labels"]))
