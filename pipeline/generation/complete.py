"""Continuing a prompt with a trained language model (the generate stage and its CLI share it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import DecodingParams, Params


def lm_dir(params: Params, name: str) -> Path:
    return Path(params.base.models_dir) / "lm" / name


def decoding_record(name: str, decoding: DecodingParams, max_new_tokens: int, seed: int) -> dict[str, Any]:
    return {"name": name, **decoding.model_dump(), "max_new_tokens": max_new_tokens, "seed": seed}


def continue_text(
    lm: Any,
    prompt: str,
    label: str | None,
    decoding: DecodingParams,
    params: Params,
    seed: int,
    max_new_tokens: int | None = None,
) -> tuple[str, str]:
    """``(text, continuation)`` for a (checked) user prompt, optionally conditioned on a class label:
    ``text`` is the normalised prompt and its continuation decoded together (so a word the model
    completes is not split by a space), ``continuation`` what follows the prompt."""
    from pipeline.generation.prompts import check_prompt
    from pipeline.generation.sampling import generate_ids

    g = params.generate
    ids = check_prompt(prompt, lm.codec, g.max_prompt_tokens, g.max_prompt_chars)
    new = generate_ids(
        lm.net,
        [*lm.codec.prefix(label), *ids],
        decoding,
        max_new_tokens or g.max_new_tokens,
        lm.codec.eos_id,
        lm.codec.banned_ids,
        seed,
        lm.codec.class_index(label),
    )
    text, start = lm.codec.decode(ids + new), lm.codec.decode(ids)
    return text, (text[len(start) :] if text.startswith(start) else lm.codec.decode(new)).strip()
