"""Text generation for ``POST /v1/generate``: the trained language models (``models/lm/<name>/``), the same prompt
checks and sampling as ``python -m pipeline generate --prompt`` (:mod:`pipeline.generation.prompts`,
:func:`pipeline.generation.sampling.generate_ids`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import DecodingParams, Params
from pipeline.data.jsonl import DataError


class Generator:
    """Every language model of ``generate.models`` that has been trained, loaded once."""

    def __init__(self, params: Params) -> None:
        from pipeline.generation.store import CONFIG_FILE, load_lm

        self.params = params
        folder = Path(params.base.models_dir) / "lm"
        self.lms = {n: load_lm(folder / n) for n in params.generate.models if (folder / n / CONFIG_FILE).is_file()}

    def decoding(self, name: str | None, **overrides: Any) -> DecodingParams:
        """``generate.decodings[name]`` (default ``generate.eval.decoding``) with the request's overrides."""
        g = self.params.generate
        name = name or g.eval.decoding
        if name not in g.decodings:
            raise DataError(f"decoding {name!r}: not in generate.decodings ({', '.join(g.decodings)})")
        set_ = {k: v for k, v in overrides.items() if v is not None}
        return DecodingParams(**{**g.decodings[name].model_dump(), **set_})

    def generate(
        self,
        prompt: str,
        model: str | None,
        label: str | None,
        decoding: DecodingParams,
        max_new_tokens: int,
        seed: int,
    ) -> dict[str, Any]:
        """``{"model", "text", "continuation"}``: the normalised prompt continued (conditioned on ``label``)."""
        from pipeline.generation.prompts import check_prompt
        from pipeline.generation.sampling import generate_ids

        g = self.params.generate
        name = model or (g.default_model if g.default_model in self.lms else next(iter(self.lms), None))
        if name not in self.lms:
            raise DataError(f"model {name!r}: no trained language model by that name (trained: {', '.join(self.lms)})")
        lm = self.lms[name]
        ids = check_prompt(prompt, lm.codec, g.max_prompt_tokens, g.max_prompt_chars)
        prefix, cls = lm.codec.prefix(label), lm.codec.class_index(label)
        try:
            new = generate_ids(lm.net, [*prefix, *ids], decoding, max_new_tokens, lm.codec.eos_id,
                               lm.codec.banned_ids, seed, cls)  # fmt: skip
        except ValueError as err:  # prompt + new tokens past the model's context
            raise DataError(str(err)) from None
        text, start = lm.codec.decode(ids + new), lm.codec.decode(ids)
        continuation = (text[len(start) :] if text.startswith(start) else lm.codec.decode(new)).strip()
        return {"model": name, "text": text, "continuation": continuation, "new_tokens": len(new)}
