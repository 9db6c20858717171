"""``python -m pipeline generate --prompt …``: decoding options checked against ``generate`` params, then texts."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from pipeline.config import DecodingParams, Params, ParamsError
from pipeline.generation.complete import continue_text, lm_dir


def cli_decoding(params: Params, args: argparse.Namespace) -> tuple[str, DecodingParams]:
    g = params.generate
    name = args.decoding or g.eval.decoding
    if name not in g.decodings:
        raise ParamsError(f"--decoding {name!r}: not in generate.decodings ({', '.join(g.decodings)})")
    overrides = {
        k: v
        for k, v in {
            "greedy": True if args.greedy else None,
            "temperature": args.temperature,
            "top_k": args.top_k,
            "top_p": args.top_p,
            "repetition_penalty": args.repetition_penalty,
        }.items()
        if v is not None
    }
    try:
        return name, DecodingParams(**{**g.decodings[name].model_dump(), **overrides})
    except ValidationError as err:
        problems = "; ".join(f"--{'-'.join(str(e['loc'][0]).split('_'))}: {e['msg']}" for e in err.errors())
        raise ParamsError(f"bad decoding option: {problems}") from None


def generate_cli(params: Params, args: argparse.Namespace) -> list[str]:
    """Texts generated for ``args.prompt`` (the CLI prints them)."""
    from pipeline.generation.prompts import check_prompt_text
    from pipeline.generation.store import load_lm

    g = params.generate
    model = args.model or g.default_model
    if model not in g.models:
        raise ParamsError(f"--model {model!r}: not one of generate.models ({', '.join(g.models)})")
    max_new = args.max_new_tokens or g.max_new_tokens
    if not 1 <= max_new <= g.max_new_tokens:
        raise ParamsError(
            f"--max-new-tokens {max_new}: must lie between 1 and generate.max_new_tokens ({g.max_new_tokens})"
        )
    _, decoding = cli_decoding(params, args)
    check_prompt_text(args.prompt, g.max_prompt_chars)  # refuse a bad prompt before loading a model
    lm = load_lm(lm_dir(params, model))
    seed = params.base.seed if args.seed is None else args.seed
    texts = []
    for i in range(args.num):
        texts.append(continue_text(lm, args.prompt, args.label, decoding, params, seed + i, max_new)[0])
    return texts
