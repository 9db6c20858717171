"""Stage **generate** (samples, held-out evaluation, class agreement) and the generation CLI.

``python -m pipeline generate`` (or ``python -m pipeline generate`` without ``--prompt``) loads every
LM of ``generate.models`` from ``<models_dir>/lm/<name>/`` and writes:

- ``<reports_dir>/generation/metrics.json``::

    {"rows": [{"dataset", "model", "perplexity" (validation split), "test_perplexity", "val_loss",
               "bleu", "chrf" (sacrebleu, 0-100), "distinct_1", "distinct_2", "train_tokens_per_s",
               "parameters", "tokenizer", "continuations", "mlflow_run_id"}],
     "class_agreement": {"model", "rate", "chance", "n", "classifier", "per_class": {label: rate},
                         "by_model": {name: {"rate", "n", "per_class"}}},
     "decoding": {...}, "settings": {...}}

  Perplexity is ``exp`` of the mean cross-entropy per predicted token (null if it overflows). BLEU and
  chrF compare, for ``generate.eval.continuation_docs`` test documents, the generation after the
  first ``prompt_words`` words (conditioned on the document's class) with the next ``reference_words``
  real words; distinct-n is over those generations. The agreement check generates
  ``agreement_per_class`` texts per class (conditioned on the class; from the class alone unless
  ``agreement_with_prompts``) and classifies them with the classifier of highest ``f1_macro`` in
  ``reports/metrics.json``; ``chance`` = 1 / classes.
- ``<reports_dir>/generation/samples.json``: a list of ``{"model", "topic", "prompt", "label" (or
  null), "decoding": {"name", greedy, temperature, top_k, top_p, repetition_penalty,
  max_new_tokens, seed}, "text" (prompt + continuation), "continuation"}``: every prompt of
  ``generate.prompts`` with every decoding unconditioned, and with each class label under the
  evaluation decoding.

- ``<reports_dir>/generation/headline.json`` (DVC metrics, kept small for ``dvc metrics show``/``dvc exp
  show``): ``{<model>: {"perplexity", "bleu", "chrf", "distinct_2"}, "class_agreement": rate}``.

Everything is logged to an MLflow run ``generate`` (metrics ``<model>/perplexity`` …, both JSON files);
each LM's training run also gets its held-out metrics (``heldout/*``).

CLI: ``python -m pipeline generate --prompt "…" [--model gpt2] [--label positive] [--decoding sampled]
[--greedy] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R] [--max-new-tokens N]
[--num N] [--seed S]``: prints the generated texts. An empty, non-Arabic or too long prompt, an
unknown label or a length above ``generate.max_new_tokens`` is refused with a one-line message.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline import cli
from pipeline.config import DecodingParams, Params, ParamsError, load_params
from pipeline.data.jsonl import DataError, read_json, write_json
from pipeline.training.run_record import RunRecord

log = logging.getLogger("generate")


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


def continuation_scores(lm: Any, rows: Sequence[dict[str, Any]], params: Params) -> dict[str, Any]:
    """BLEU, chrF and distinct-n of generated continuations of test documents."""
    from pipeline.generation.metrics import bleu_chrf, distinct_n
    from pipeline.generation.sampling import generate_ids
    from pipeline.generation.text import lm_normalize

    g, ev = params.generate, params.generate.eval
    decoding = g.decodings[ev.decoding]
    hyps, refs = [], []
    for row in rows:
        words = lm_normalize(row["text"]).split()
        if len(words) <= ev.prompt_words:
            continue
        prompt_ids = lm.codec.encode(" ".join(words[: ev.prompt_words]))[: g.max_prompt_tokens]
        new = generate_ids(
            lm.net,
            [*lm.codec.prefix(row["label_name"]), *prompt_ids],
            decoding,
            g.max_new_tokens,
            lm.codec.eos_id,
            lm.codec.banned_ids,
            params.base.seed + len(hyps),
            lm.codec.class_index(row["label_name"]),
        )
        reference = words[ev.prompt_words : ev.prompt_words + ev.reference_words]
        generated = lm.codec.decode(prompt_ids + new).split()[ev.prompt_words :]
        hyps.append(" ".join(generated[: len(reference)]))
        refs.append(" ".join(reference))
        if len(hyps) == ev.continuation_docs:
            break
    bleu, chrf = bleu_chrf(hyps, refs)
    return {
        "bleu": round(bleu, 4),
        "chrf": round(chrf, 4),
        "distinct_1": round(distinct_n(hyps, 1), 4),
        "distinct_2": round(distinct_n(hyps, 2), 4),
        "continuations": len(hyps),
    }


def best_classifier(params: Params) -> str:
    """The architecture with the highest test ``f1_macro`` in ``reports/metrics.json``."""
    path = Path(params.base.reports_dir) / "metrics.json"
    metrics = read_json(path)
    scored = {a: m["f1_macro"] for a, m in metrics.items() if isinstance(m, dict) and "f1_macro" in m}
    if not scored:
        raise DataError(f"{path}: no classifier with an f1_macro (run the evaluate stage first)")
    return max(sorted(scored), key=scored.__getitem__)


def class_agreement(lm: Any, params: Params, predictor: Any, labels: list[str]) -> dict[str, Any]:
    """Generate ``agreement_per_class`` texts per label (from the class alone, or after the topic prompts
    in turn with ``agreement_with_prompts``); the share the classifier puts in the requested class.
    Seeds are shared across classes, so the classes are compared on paired draws."""
    from pipeline.generation.sampling import generate_ids
    from pipeline.text.processor import TextProcessor

    g = params.generate
    process = TextProcessor(params.preprocess)
    prompts = [p for topic in g.prompts.values() for p in topic]
    decoding = g.decodings[g.eval.decoding]
    per_class: dict[str, float] = {}
    hits = total = 0
    for y, label in enumerate(labels):
        rows = []
        for i in range(g.eval.agreement_per_class):
            seed = params.base.seed + i
            if g.eval.agreement_with_prompts:
                text, _ = continue_text(lm, prompts[i % len(prompts)], label, decoding, params, seed)
            else:
                codec = lm.codec
                new = generate_ids(
                    lm.net,
                    codec.prefix(label),
                    decoding,
                    g.max_new_tokens,
                    codec.eos_id,
                    codec.banned_ids,
                    seed,
                    codec.class_index(label),
                )
                text = codec.decode(new)
            rows.append({"id": f"gen-{label}-{i}", "text": text, "tokens": process(text), "label": y})
        probs = predictor.predict_proba(rows)
        agree = sum(1 for p in probs if max(range(len(p)), key=p.__getitem__) == y)
        per_class[label] = round(agree / len(rows), 4)
        hits, total = hits + agree, total + len(rows)
    return {"rate": round(hits / total, 4), "n": total, "per_class": per_class}


def samples(lm: Any, params: Params, labels: list[str]) -> list[dict[str, Any]]:
    g, seed = params.generate, params.base.seed
    out = []
    for topic, prompts in g.prompts.items():
        for prompt in prompts:
            runs = [(name, d, None) for name, d in g.decodings.items()]
            runs += [(g.eval.decoding, g.decodings[g.eval.decoding], label) for label in labels]
            for name, decoding, label in runs:
                text, continuation = continue_text(lm, prompt, label, decoding, params, seed)
                out.append(
                    {
                        "model": lm.name,
                        "topic": topic,
                        "prompt": prompt,
                        "label": label,
                        "decoding": decoding_record(name, decoding, g.max_new_tokens, seed),
                        "text": text,
                        "continuation": continuation,
                    }
                )
    return out


def dataset_name(params: Params) -> str:
    """``demo`` for the embedded demo site, else the data source's name."""
    if params.data.source == "scrape":
        return "demo" if params.scrape.site == "demo" else "scrape"
    return Path(params.data.hf_name or params.data.path).stem


def generate(params: Params) -> dict[str, Any]:
    """Run the stage; return the metrics written to ``generation/metrics.json``."""
    from pipeline.data.split import read_split
    from pipeline.generation.metrics import finite_or_none, perplexity
    from pipeline.generation.store import load_lm
    from pipeline.serving.predict import load_predictor

    base, g = params.base, params.generate
    processed = Path(base.processed_dir)
    labels = read_json(processed / "classes.json")["labels"]
    val_rows, test_rows = read_split(processed / "val.jsonl"), read_split(processed / "test.jsonl")
    classifier = best_classifier(params)
    predictor = load_predictor(Path(base.models_dir) / classifier, processed)

    rows, all_samples, agreement = [], [], {}
    for name in g.models:
        lm = load_lm(lm_dir(params, name))
        run = RunRecord.load(lm.folder)
        val_loss, _ = lm.mean_loss(val_rows, g.train.block_size)
        test_loss, _ = lm.mean_loss(test_rows, g.train.block_size)
        row = {
            "dataset": dataset_name(params),
            "model": name,
            "perplexity": finite_or_none(round(perplexity(val_loss), 4)),
            "test_perplexity": finite_or_none(round(perplexity(test_loss), 4)),
            "val_loss": round(val_loss, 6),
            **continuation_scores(lm, test_rows, params),
            "train_tokens_per_s": run.train_tokens_per_s,
            "parameters": run.parameters,
            "tokenizer": run.tokenizer,
            "mlflow_run_id": run.mlflow_run_id,
        }
        rows.append(row)
        all_samples += samples(lm, params, labels)
        agreement[name] = class_agreement(lm, params, predictor, labels)
        log.info(
            "%s: val perplexity %s, BLEU %.2f, chrF %.2f, distinct-2 %.3f, class agreement %.2f",
            name,
            row["perplexity"],
            row["bleu"],
            row["chrf"],
            row["distinct_2"],
            agreement[name]["rate"],
        )
    main_model = g.default_model
    result = {
        "rows": rows,
        "class_agreement": {
            "model": main_model,
            **agreement[main_model],
            "chance": round(1 / len(labels), 4),
            "classifier": classifier,
            "by_model": agreement,
        },
        "decoding": decoding_record(g.eval.decoding, g.decodings[g.eval.decoding], g.max_new_tokens, base.seed),
        "settings": g.eval.model_dump(),
    }
    out = Path(base.reports_dir) / "generation"
    write_json(out / "metrics.json", result)
    write_json(out / "samples.json", all_samples)
    headline: dict[str, Any] = {
        r["model"]: {k: r[k] for k in ("perplexity", "bleu", "chrf", "distinct_2")} for r in rows
    }
    headline["class_agreement"] = result["class_agreement"]["rate"]
    write_json(out / "headline.json", headline)
    log_to_mlflow(params, result, out)
    return result


def log_to_mlflow(params: Params, result: dict[str, Any], out: Path) -> None:
    import mlflow

    from pipeline.tracking import flat_params, provenance_tags, setup_mlflow

    setup_mlflow(params.base)
    metrics: dict[str, float] = {}
    for row in result["rows"]:
        for key in ("perplexity", "test_perplexity", "val_loss", "bleu", "chrf", "distinct_1", "distinct_2"):
            if row[key] is not None:
                metrics[f"{row['model']}/{key}"] = row[key]
    for name, agreement in result["class_agreement"]["by_model"].items():
        metrics[f"{name}/class_agreement"] = agreement["rate"]
    metrics["class_agreement/chance"] = result["class_agreement"]["chance"]
    with mlflow.start_run(run_name="generate", tags={**provenance_tags(params.base.seed), "stage": "generate"}):
        mlflow.log_params(flat_params(params, ("generate",)))
        mlflow.log_param("classifier", result["class_agreement"]["classifier"])
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(out / "metrics.json"))
        mlflow.log_artifact(str(out / "samples.json"))
    for row in result["rows"]:
        if row["mlflow_run_id"]:
            with mlflow.start_run(run_id=row["mlflow_run_id"]):
                mlflow.log_metrics(
                    {f"heldout/{k.split('/', 1)[1]}": v for k, v in metrics.items() if k.startswith(f"{row['model']}/")}
                )


def _cli_decoding(params: Params, args: argparse.Namespace) -> tuple[str, DecodingParams]:
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
    _, decoding = _cli_decoding(params, args)
    check_prompt_text(args.prompt, g.max_prompt_chars)  # refuse a bad prompt before loading a model
    lm = load_lm(lm_dir(params, model))
    seed = params.base.seed if args.seed is None else args.seed
    texts = []
    for i in range(args.num):
        texts.append(continue_text(lm, args.prompt, args.label, decoding, params, seed + i, max_new)[0])
    return texts


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipeline generate",
        description="Without --prompt: run the generate stage. With --prompt: continue it with a trained LM.",
    )
    p.add_argument("--prompt", help="Arabic text to continue")
    p.add_argument("--model", help="lstm_lm or gpt2 (default: generate.default_model)")
    p.add_argument("--label", help="class to condition on, e.g. positive (default: none)")
    p.add_argument("--decoding", help="a name in generate.decodings (default: generate.eval.decoding)")
    p.add_argument("--greedy", action="store_true", help="most likely token at each step")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--max-new-tokens", type=int, help="at most generate.max_new_tokens")
    p.add_argument("--num", type=int, default=1, help="how many texts (seeds seed, seed+1, …)")
    p.add_argument("--seed", type=int, help="sampling seed (default: base.seed)")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    params = load_params()
    if args.prompt is None:
        generate(params)
        return
    if args.num < 1:
        raise ParamsError(f"--num {args.num}: must be at least 1")
    for text in generate_cli(params, args):
        sys.stdout.write(text + "\n")


if __name__ == "__main__":
    cli.run(main)
