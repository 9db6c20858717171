"""Documents → one token stream → fixed-length blocks (no padding).

Each document becomes ``<s> [<class>] text </s>`` (text normalised by :func:`lm_normalize`); the
documents of a split are concatenated in id order and cut into blocks of ``block_size`` inputs whose
targets are the next tokens (the stream shifted by one), so every token is predicted once whatever
document boundary a block crosses. ``<s>`` and class tokens are given, never predicted: their
targets are ``IGNORE`` (-100). Only the final partial block is left out of training (or kept, on its
own, for evaluation).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from pipeline.generation.text import lm_normalize
from pipeline.generation.tokenizer import Codec

IGNORE = -100


def document_ids(codec: Codec, text: str, label: str | None) -> list[int]:
    """``<s> [<label>] text </s>`` as ids."""
    return [*codec.prefix(label), *codec.encode(lm_normalize(text)), codec.eos_id]


def token_stream(
    codec: Codec, rows: Sequence[dict[str, Any]], class_token_dropout: float = 0.0, seed: int = 0
) -> tuple[list[int], list[int]]:
    """The concatenated ids of ``rows`` and their targets (ids, with given tokens set to ``IGNORE``).

    A share ``class_token_dropout`` of documents (drawn with ``seed``) goes without its class token."""
    rng = random.Random(seed)
    given = {codec.bos_id, *codec.class_ids.values()}
    ids: list[int] = []
    for row in rows:
        keep_class = rng.random() >= class_token_dropout
        ids.extend(document_ids(codec, row["text"], row.get("label_name") if keep_class else None))
    targets = [IGNORE if t in given else t for t in ids]
    return ids, targets


def pack(
    ids: Sequence[int], targets: Sequence[int], block_size: int, keep_remainder: bool = False
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(inputs, targets)`` blocks: ``inputs = ids[i:i+n]``, ``targets = targets[i+1:i+n+1]``.

    Every block but (with ``keep_remainder``) the last has exactly ``block_size`` tokens."""
    n_pred = len(ids) - 1
    blocks = []
    for start in range(0, n_pred, block_size):
        end = min(start + block_size, n_pred)
        if end - start < block_size and not keep_remainder:
            break
        blocks.append(
            (
                torch.tensor(ids[start:end], dtype=torch.long),
                torch.tensor(targets[start + 1 : end + 1], dtype=torch.long),
            )
        )
    return blocks


def stack(blocks: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.utils.data.TensorDataset:
    """Equal-length blocks as a dataset of ``(inputs, targets)`` rows."""
    if not blocks:
        raise ValueError("no complete block: the split has fewer tokens than generate.train.block_size")
    return torch.utils.data.TensorDataset(torch.stack([b[0] for b in blocks]), torch.stack([b[1] for b in blocks]))
