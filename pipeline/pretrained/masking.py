"""Masked-language-modelling inputs: BERT's 15% selection, 80% [MASK] / 10% random / 10% unchanged."""

from __future__ import annotations

import torch

IGNORE = -100  # label of positions that carry no loss


def mask_tokens(
    input_ids: torch.Tensor,
    special: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, labels)`` for MLM. ``special`` marks positions never selected (padding, [CLS], [SEP]).

    Labels are the original ids at selected positions and ``IGNORE`` elsewhere; at least one position
    per batch is selected (a batch with none would give a NaN loss)."""
    labels = input_ids.clone()
    probs = torch.full(input_ids.shape, probability)
    probs[special] = 0.0
    selected = torch.bernoulli(probs, generator=generator).bool()
    if not selected.any() and (~special).any():
        first = (~special).nonzero()[0]
        selected[tuple(first)] = True
    labels[~selected] = IGNORE
    inputs = input_ids.clone()
    to_mask = torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool() & selected
    inputs[to_mask] = mask_id
    to_random = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool() & selected & ~to_mask
    inputs[to_random] = torch.randint(vocab_size, input_ids.shape, generator=generator)[to_random]
    return inputs, labels
