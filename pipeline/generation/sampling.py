"""Decoding: greedy, temperature, top-k, top-p (nucleus) and repetition penalty, for any LM with
``start``/``step`` (see :mod:`pipeline.generation.networks`).

:func:`next_token_scores` turns raw logits into the scores sampled from (banned tokens and, with
top-k/top-p, everything outside the kept set at ``-inf``); :func:`generate_ids` never returns more
than ``max_new_tokens`` ids, stops at the end-of-text id, and with a fixed ``seed`` gives the same
text every time (greedy does whatever the seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from pipeline.config import DecodingParams


def next_token_scores(
    logits: torch.Tensor, history: Sequence[int], decoding: DecodingParams, banned: Sequence[int] = ()
) -> torch.Tensor:
    """1-D scores over the vocabulary after penalty, bans, temperature, top-k and top-p."""
    scores = logits.detach().float().clone()
    if decoding.repetition_penalty != 1.0 and history:
        seen = torch.tensor(sorted(set(history)), dtype=torch.long)
        prev = scores[seen]
        scores[seen] = torch.where(prev > 0, prev / decoding.repetition_penalty, prev * decoding.repetition_penalty)
    if banned:
        scores[torch.tensor(list(banned), dtype=torch.long)] = -torch.inf
    if decoding.greedy:
        return scores
    scores = scores / decoding.temperature
    if 0 < decoding.top_k < scores.numel():
        kth = torch.topk(scores, decoding.top_k).values[-1]
        scores[scores < kth] = -torch.inf
    if decoding.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        # drop a token when the tokens before it already reach top_p (the first one always stays)
        drop = torch.cumsum(probs, dim=-1) - probs >= decoding.top_p
        scores[order[drop]] = -torch.inf
    return scores


def choose(scores: torch.Tensor, decoding: DecodingParams, generator: torch.Generator) -> int:
    if decoding.greedy:
        return int(torch.argmax(scores))
    return int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))


@torch.inference_mode()
def generate_ids(
    lm: Any,
    prompt_ids: Sequence[int],
    decoding: DecodingParams,
    max_new_tokens: int,
    eos_id: int,
    banned: Sequence[int] = (),
    seed: int = 0,
    cls: int = 0,
) -> list[int]:
    """New ids after ``prompt_ids`` (without the end-of-text id), at most ``max_new_tokens`` of them,
    conditioned on class id ``cls`` (0 = none)."""
    if not prompt_ids:
        raise ValueError("generation needs at least one prompt id (<s>)")
    limit = getattr(lm, "max_positions", None)
    if limit is not None and len(prompt_ids) + max_new_tokens > limit:
        raise ValueError(
            f"prompt ({len(prompt_ids)} ids) + max_new_tokens ({max_new_tokens}) exceed the model's context ({limit})"
        )
    generator = torch.Generator().manual_seed(seed)
    history = list(prompt_ids)
    out: list[int] = []
    logits, state = lm.start(list(prompt_ids), cls)
    while len(out) < max_new_tokens:
        token = choose(next_token_scores(logits, history, decoding, banned), decoding, generator)
        if token == eos_id:
            break
        out.append(token)
        history.append(token)
        if len(out) < max_new_tokens:
            logits, state = lm.step(token, state)
    return out
