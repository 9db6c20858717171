"""Class maps: 0–10 scores binned into classes, or categorical labels taken as they are."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from pipeline.config import BinsParams


@dataclass(frozen=True)
class ClassMap:
    """Score bins and their labels (``kind="score"``: class ``i`` holds ``edges[i-1] <= score < edges[i]``),
    or a sorted list of categorical labels (``kind="label"``, ``edges`` empty)."""

    edges: tuple[float, ...]
    labels: tuple[str, ...]
    kind: str = "score"
    method: str = "fixed"

    @classmethod
    def from_params(cls, bins: BinsParams, scores: Iterable[float] = ()) -> ClassMap:
        """Bins from params; ``quantile`` needs the corpus ``scores`` to place its edges."""
        names = tuple(bins.label_names())
        if bins.method == "fixed":
            return cls(tuple(bins.edges), names, method="fixed")
        n = bins.n_classes
        if bins.method == "uniform":
            return cls(tuple(round(10 * i / n, 6) for i in range(1, n)), names, method="uniform")
        values = np.asarray(list(scores), dtype=float)
        if values.size == 0:
            raise ValueError("quantile bins need scores, and the corpus has none")
        edges = tuple(float(e) for e in np.unique(np.quantile(values, [i / n for i in range(1, n)])))
        edges = tuple(e for e in edges if 0 < e <= 10)
        if len(edges) != n - 1:
            raise ValueError(
                f"preprocess.bins: {n} quantile classes need {n - 1} distinct inner quantiles of the scores, "
                f"got {list(edges)} (too few distinct scores); use fewer classes or method 'fixed'"
            )
        return cls(edges, names, method="quantile")

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> ClassMap:
        """Categorical classes: the distinct labels, sorted (numbers numerically)."""
        distinct = set(labels)

        def key(lab: str) -> tuple[int, float | str]:
            try:
                return (0, float(lab))
            except ValueError:
                return (1, lab)

        return cls((), tuple(sorted(distinct, key=key)), kind="label", method="labels")

    def label_id(self, value: float | str) -> int:
        if self.kind == "label":
            try:
                return self.labels.index(str(value))
            except ValueError:
                raise ValueError(f"label {value!r} is not one of {list(self.labels)}") from None
        score = float(value)
        if not 0 <= score <= 10:
            raise ValueError(f"score {score} is outside 0–10")
        return bisect.bisect_right(self.edges, score)

    def ranges(self) -> list[dict[str, object]]:
        if self.kind == "label":
            return [{"id": i, "label": lab} for i, lab in enumerate(self.labels)]
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
        return {
            "kind": self.kind,
            "method": self.method,
            "labels": list(self.labels),
            "edges": list(self.edges),
            "classes": self.ranges(),
        }

    @classmethod
    def from_json(cls, obj: dict) -> ClassMap:
        return cls(tuple(obj["edges"]), tuple(obj["labels"]), obj.get("kind", "score"), obj.get("method", "fixed"))
