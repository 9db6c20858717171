"""Checks on user prompts: a clear message for an empty, non-Arabic or too long prompt."""

from __future__ import annotations

from pipeline.config import ARABIC_LETTER
from pipeline.data.jsonl import DataError
from pipeline.generation.text import lm_normalize
from pipeline.generation.tokenizer import Codec


class PromptError(DataError):
    """A prompt the models cannot continue (the CLI prints it and exits with status 2)."""


def check_prompt_text(prompt: str, max_chars: int) -> str:
    """The normalised prompt; :class:`PromptError` if it is too long, empty or has no Arabic letter
    (checks that need no tokenizer, so the CLI refuses before loading a model)."""
    if len(prompt) > max_chars:
        raise PromptError(
            f"prompt too long: {len(prompt)} characters; the limit is generate.max_prompt_chars = {max_chars}"
        )
    text = lm_normalize(prompt)
    if not text:
        raise PromptError("empty prompt: give the beginning of an Arabic text to continue")
    if not ARABIC_LETTER.search(text):
        raise PromptError(f"prompt {prompt[:60]!r} has no Arabic letter: the models are trained on Arabic text only")
    return text


def check_prompt(prompt: str, codec: Codec, max_tokens: int, max_chars: int) -> list[int]:
    """The prompt's ids after normalisation; :class:`PromptError` if it is unusable."""
    ids = codec.encode(check_prompt_text(prompt, max_chars))
    if len(ids) > max_tokens:
        raise PromptError(f"prompt too long: {len(ids)} tokens; the limit is generate.max_prompt_tokens = {max_tokens}")
    return ids
