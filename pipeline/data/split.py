"""Stratified, seeded train/val/test split."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.data.jsonl import read_jsonl


SPLITS = ("train", "val", "test")  # split codes 0, 1, 2 in :func:`stratified_codes`
TRAIN, VAL, TEST = range(3)


def stratified_codes(labels: np.ndarray, val: float, test: float, seed: int) -> np.ndarray:
    """Split code (``TRAIN``/``VAL``/``TEST``, int8) per position; each class is split in the given proportions.

    The result depends only on the label sequence (in its order), the fractions and the seed. A class with at
    least three members puts at least one in val and test. Arrays throughout: a million labels take a few MB.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = np.full(len(labels), TRAIN, dtype=np.int8)
    for y in np.unique(labels):
        idx = np.flatnonzero(labels == y)
        rng.shuffle(idx)
        n = len(idx)
        n_test, n_val = round(n * test), round(n * val)
        if n >= 3:
            n_test, n_val = max(1, n_test), max(1, n_val)
        out[idx[:n_test]] = TEST
        out[idx[n_test : n_test + n_val]] = VAL
    return out


def stratified_split(labels: Sequence[int], val: float, test: float, seed: int) -> dict[str, list[int]]:
    """Return indices per split (ascending); each class is split in the given proportions (as
    :func:`stratified_codes`)."""
    codes = stratified_codes(np.asarray(labels, dtype=np.int64), val, test, seed)
    return {name: np.flatnonzero(codes == c).tolist() for c, name in enumerate(SPLITS)}


def read_split(path: Path) -> list[dict[str, Any]]:
    """A split file's rows sorted by id: the preprocess stage writes them in source order, and sorting
    makes every consumer (training batches, baselines, evaluation) independent of that order."""
    return sorted(read_jsonl(path), key=lambda r: str(r["id"]))


def split_tokens(processed_dir: str, split: str) -> tuple[list[list[str]], list[int], list[dict[str, Any]]]:
    """A split's token lists, labels and rows (sorted by id)."""
    rows = read_split(Path(processed_dir) / f"{split}.jsonl")
    return [r["tokens"] for r in rows], [int(r["label"]) for r in rows], rows
