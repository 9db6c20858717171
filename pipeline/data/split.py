"""Stratified, seeded train/val/test split."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.data.jsonl import read_jsonl


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


def read_split(path: Path) -> list[dict[str, Any]]:
    """A split file's rows sorted by id: the preprocess stage writes them in source order, and sorting
    makes every consumer (training batches, baselines, evaluation) independent of that order."""
    return sorted(read_jsonl(path), key=lambda r: str(r["id"]))


def split_tokens(processed_dir: str, split: str) -> tuple[list[list[str]], list[int], list[dict[str, Any]]]:
    """A split's token lists, labels and rows (sorted by id)."""
    rows = read_split(Path(processed_dir) / f"{split}.jsonl")
    return [r["tokens"] for r in rows], [int(r["label"]) for r in rows], rows
