"""Stratified, seeded train/val/test split."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def stratified_split(labels: Sequence[int], val: float, test: float, seed: int) -> dict[str, list[int]]:
    """Return indices per split; each class is split in the given proportions.

    The result depends only on the label sequence (in its order), the fractions and
    the seed. A class with at least three members puts at least one in val and test.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_class[y].append(i)
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for y in sorted(by_class):
        idx = np.array(by_class[y])
        rng.shuffle(idx)
        n = len(idx)
        n_test, n_val = round(n * test), round(n * val)
        if n >= 3:
            n_test, n_val = max(1, n_test), max(1, n_val)
        out["test"].extend(idx[:n_test].tolist())
        out["val"].extend(idx[n_test : n_test + n_val].tolist())
        out["train"].extend(idx[n_test + n_val :].tolist())
    return {k: sorted(v) for k, v in out.items()}
