"""Held-out evaluation of a language model: perplexity, continuation scores (BLEU, chrF, distinct-n), class
agreement judged by the best classifier, and the samples of every prompt and decoding."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import Params
from pipeline.data.jsonl import DataError, read_json
from pipeline.generation.complete import continue_text, decoding_record
from pipeline.training.run_record import RunRecord


def dataset_name(params: Params) -> str:
    """``demo`` for the embedded demo site, else the data source's name."""
    if params.data.source == "scrape":
        return "demo" if params.scrape.site == "demo" else "scrape"
    return Path(params.data.hf_name or params.data.path).stem


def tick(bar: Any) -> None:
    """One generated text on the stage's progress bar (``None``: no bar)."""
    if bar is not None:
        bar.update()


def texts_to_generate(params: Params, labels: list[str]) -> int:
    """Texts the generate stage generates per language model (at most: short test documents are skipped)."""
    g = params.generate
    prompts = sum(len(p) for p in g.prompts.values())
    return (
        g.eval.continuation_docs + g.eval.agreement_per_class * len(labels) + prompts * (len(g.decodings) + len(labels))
    )


def continuation_scores(lm: Any, rows: Sequence[dict[str, Any]], params: Params, bar: Any = None) -> dict[str, Any]:
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
        tick(bar)
        if len(hyps) == ev.continuation_docs:
            break
    if bar is not None:
        bar.total -= ev.continuation_docs - len(hyps)  # documents too short to continue
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


def class_agreement(lm: Any, params: Params, predictor: Any, labels: list[str], bar: Any = None) -> dict[str, Any]:
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
            tick(bar)
        probs = predictor.predict_proba(rows)
        agree = sum(1 for p in probs if max(range(len(p)), key=p.__getitem__) == y)
        per_class[label] = round(agree / len(rows), 4)
        hits, total = hits + agree, total + len(rows)
    return {"rate": round(hits / total, 4), "n": total, "per_class": per_class}


def samples(lm: Any, params: Params, labels: list[str], bar: Any = None) -> list[dict[str, Any]]:
    g, seed = params.generate, params.base.seed
    out = []
    for topic, prompts in g.prompts.items():
        for prompt in prompts:
            runs = [(name, d, None) for name, d in g.decodings.items()]
            runs += [(g.eval.decoding, g.decodings[g.eval.decoding], label) for label in labels]
            for name, decoding, label in runs:
                text, continuation = continue_text(lm, prompt, label, decoding, params, seed)
                tick(bar)
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


def heldout_row(
    lm: Any, params: Params, val_rows: list[dict], test_rows: list[dict], bar: Any = None
) -> dict[str, Any]:
    """One row of ``generation/metrics.json``: held-out perplexities, continuation scores, model size. Only
    what the params and data decide (no timings, no run ids: see :func:`run_facts`), so it is reproducible."""
    from pipeline.generation.metrics import finite_or_none, perplexity

    block_size = params.generate.train.block_size
    run = RunRecord.load(lm.folder)
    val_loss, _ = lm.mean_loss(val_rows, block_size)
    test_loss, _ = lm.mean_loss(test_rows, block_size)
    return {
        "dataset": dataset_name(params),
        "model": lm.name,
        "perplexity": finite_or_none(round(perplexity(val_loss), 4)),
        "test_perplexity": finite_or_none(round(perplexity(test_loss), 4)),
        "val_loss": round(val_loss, 6),
        **continuation_scores(lm, test_rows, params, bar),
        "parameters": run.parameters,
        "tokenizer": run.tokenizer,
    }


def run_facts(lm: Any) -> dict[str, Any]:
    """What differs from run to run of a language model's training (the run log of ``generation/metrics.json``): its
    throughput and MLflow run."""
    run = RunRecord.load(lm.folder)
    return {"train_tokens_per_s": run.train_tokens_per_s, "mlflow_run_id": run.mlflow_run_id}


def generation_metrics(
    params: Params, rows: list[dict[str, Any]], agreement: dict[str, Any], labels: list[str], classifier: str
) -> dict[str, Any]:
    """The content of ``generation/metrics.json``."""
    base, g = params.base, params.generate
    return {
        "rows": rows,
        "class_agreement": {
            "model": g.default_model,
            **agreement[g.default_model],
            "chance": round(1 / len(labels), 4),
            "classifier": classifier,
            "by_model": agreement,
        },
        "decoding": decoding_record(g.eval.decoding, g.decodings[g.eval.decoding], g.max_new_tokens, base.seed),
        "settings": g.eval.model_dump(),
    }


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """``generation/headline.json``: a few numbers per model and the class agreement rate."""
    out: dict[str, Any] = {
        r["model"]: {k: r[k] for k in ("perplexity", "bleu", "chrf", "distinct_2")} for r in result["rows"]
    }
    out["class_agreement"] = result["class_agreement"]["rate"]
    return out
