"""Documents → one token stream → fixed-length blocks (no padding).

Each document becomes ``<s> [<class>] text </s>`` (text normalised by :func:`lm_normalize`); the
documents of a split are concatenated in id order and cut into blocks of ``block_size`` inputs whose
targets are the next tokens (the stream shifted by one), so every token is predicted once whatever
document boundary a block crosses. ``<s>`` and class tokens are given, never predicted: their
targets are ``IGNORE`` (-100). Only the final partial block is left out of training (or kept, on its
own, for evaluation).

A parallel stream gives each position the class id of its document (``Codec.class_index``: 0 when the
document goes without class): the models add a learnt class embedding to every input, because a
single class token at the start of a document, often in an earlier block, was not learnt at all at
this data size (identical generations for every class).
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
) -> tuple[list[int], list[int], list[int]]:
    """The concatenated ids of ``rows``, their targets (ids, with given tokens set to ``IGNORE``) and the
    class id of every position.

    A share ``class_token_dropout`` of documents (drawn with ``seed``) goes without its class."""
    rng = random.Random(seed)
    given = {codec.bos_id, *codec.class_ids.values()}
    ids: list[int] = []
    classes: list[int] = []
    for row in rows:
        label = row.get("label_name") if rng.random() >= class_token_dropout else None
        doc = document_ids(codec, row["text"], label)
        ids.extend(doc)
        classes.extend([codec.class_index(label)] * len(doc))
    targets = [IGNORE if t in given else t for t in ids]
    return ids, targets, classes


Block = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def pack(
    ids: Sequence[int],
    targets: Sequence[int],
    classes: Sequence[int],
    block_size: int,
    keep_remainder: bool = False,
) -> list[Block]:
    """``(inputs, classes, targets)`` blocks: ``inputs = ids[i:i+n]``, ``classes = classes[i:i+n]``,
    ``targets = targets[i+1:i+n+1]``.

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
                torch.tensor(classes[start:end], dtype=torch.long),
                torch.tensor(targets[start + 1 : end + 1], dtype=torch.long),
            )
        )
    return blocks


def stack(blocks: Sequence[Block]) -> torch.utils.data.TensorDataset:
    """Equal-length blocks as a dataset of ``(inputs, classes, targets)`` rows."""
    if not blocks:
        raise ValueError("no complete block: the split has fewer tokens than generate.train.block_size")
    return torch.utils.data.TensorDataset(*(torch.stack([b[k] for b in blocks]) for k in range(3)))
